package runtime

import specs "github.com/opencontainers/runtime-spec/specs-go"

func i64(v int64) *int64 { return &v }

// allowedDevices are always allowed in the devices cgroup, after the spec's
// own rules (as runc does): the default devices, ptys and the console.
var allowedDevices = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},    // null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},    // zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},    // full
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},    // random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},    // urandom
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},    // tty
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},    // console
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},    // ptmx
	{Allow: true, Type: "c", Major: i64(136), Minor: i64(-1), Access: "rwm"}, // pts/*
}

// cgroupResources returns the resources to apply: the spec's, with the
// device rules completed by the default devices and the spec's devices.
func cgroupResources(spec *specs.Spec) *specs.LinuxResources {
	var r specs.LinuxResources
	if spec.Linux.Resources != nil {
		r = *spec.Linux.Resources
	}
	rules := append([]specs.LinuxDeviceCgroup{}, r.Devices...)
	if len(rules) == 0 {
		// No rules at all: deny by default, like runc.
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"})
	}
	rules = append(rules, allowedDevices...)
	for _, d := range spec.Linux.Devices {
		maj, min := d.Major, d.Minor
		t := d.Type
		if t == "u" {
			t = "c"
		}
		if t == "p" {
			continue
		}
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: &maj, Minor: &min, Access: "rwm"})
	}
	r.Devices = rules
	return &r
}
