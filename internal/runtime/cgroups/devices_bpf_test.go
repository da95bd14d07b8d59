package cgroups

import (
	"encoding/binary"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64p(v int64) *int64 { return &v }

// evalDeviceProgram interprets the few instructions deviceFilterProgram
// emits, standing in for the kernel, so the rule semantics can be
// checked without loading anything.
func evalDeviceProgram(t *testing.T, prog []bpfInsn, devType, access, major, minor uint32) uint32 {
	t.Helper()
	var reg [11]uint64
	ctx := [3]uint32{access<<16 | devType, major, minor}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case opLdxMemW:
			reg[in.Dst] = uint64(ctx[in.Off/4])
		case opAnd32Imm:
			reg[in.Dst] = uint64(uint32(reg[in.Dst]) & uint32(in.Imm))
		case opRsh32Imm:
			reg[in.Dst] = uint64(uint32(reg[in.Dst]) >> uint32(in.Imm))
		case opMov32Imm:
			reg[in.Dst] = uint64(uint32(in.Imm))
		case opMov32Reg:
			reg[in.Dst] = uint64(uint32(reg[in.Src]))
		case opJeqImm:
			if reg[in.Dst] == uint64(int64(in.Imm)) {
				pc += int(in.Off)
			}
		case opJneImm:
			if reg[in.Dst] != uint64(int64(in.Imm)) {
				pc += int(in.Off)
			}
		case opJsetImm:
			if reg[in.Dst]&uint64(int64(in.Imm)) != 0 {
				pc += int(in.Off)
			}
		case opExit:
			return uint32(reg[0])
		default:
			t.Fatalf("unknown opcode %#x", in.Code)
		}
	}
	t.Fatalf("program fell off its end:\n%s", deviceProgramString(prog))
	return 0
}

// refDecision is the v1 meaning of rules: deny all, then the last
// matching rule decides.
func refDecision(rules []deviceRule, devType byte, access uint32, major, minor int64) bool {
	allowed := false
	for _, r := range rules {
		if r.typ != 'a' && r.typ != devType {
			continue
		}
		if (r.major >= 0 && r.major != major) || (r.minor >= 0 && r.minor != minor) {
			continue
		}
		acc := accessBits(r.access)
		if r.allow && access&^acc == 0 {
			allowed = true
		}
		if !r.allow && access&acc != 0 {
			allowed = false
		}
	}
	return allowed
}

func mustRules(t *testing.T, rules []specs.LinuxDeviceCgroup) []deviceRule {
	t.Helper()
	norm, err := normaliseDeviceRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return norm
}

func TestDeviceFilterProgramInstructions(t *testing.T) {
	rules := mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"},
		{Allow: true, Type: "c", Access: "m"},
		{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "w"},
	})
	want := `ldxw r2, [r1+0]
and32 r2, 0xffff
ldxw r3, [r1+0]
rsh32 r3, 16
ldxw r4, [r1+4]
ldxw r5, [r1+8]
jne r2, 2, +7
mov32 r1, r3
and32 r1, 0x4
jeq r1, 0, +4
jne r4, 1, +3
jne r5, 3, +2
mov32 r0, 0
exit
jne r2, 2, +3
jset r3, 0x6, +2
mov32 r0, 1
exit
jne r2, 2, +4
jne r4, 1, +3
jne r5, 3, +2
mov32 r0, 1
exit
mov32 r0, 0
exit
`
	if got := deviceProgramString(deviceFilterProgram(rules)); got != want {
		t.Fatalf("program:\n%s\nwant:\n%s", got, want)
	}
}

func TestDeviceFilterProgramWildcardEndsProgram(t *testing.T) {
	// Privileged containers: allow everything. Rules before the last
	// wildcard can never decide, so they are not compiled.
	rules := mustRules(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(3)},
		{Allow: true, Access: "rwm"},
	})
	got := deviceProgramString(deviceFilterProgram(rules))
	if !strings.HasSuffix(got, "ldxw r5, [r1+8]\nmov32 r0, 1\nexit\n") || strings.Count(got, "\n") != 8 {
		t.Fatalf("program:\n%s", got)
	}
}

func TestDeviceFilterProgramSemantics(t *testing.T) {
	ruleSets := [][]specs.LinuxDeviceCgroup{
		{ // a typical container: deny all + the default devices
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(5), Minor: i64p(0), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(136), Access: "rwm"},
			{Allow: true, Type: "c", Access: "m"},
			{Allow: true, Type: "b", Access: "m"},
			{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "w"},
		},
		{ // partial allows and a block device
			{Allow: true, Type: "b", Major: i64p(8), Minor: i64p(0), Access: "r"},
			{Allow: true, Type: "b", Major: i64p(8), Minor: i64p(0), Access: "w"},
			{Allow: true, Type: "c", Major: i64p(10), Access: "rw"},
			{Allow: false, Type: "c", Major: i64p(10), Minor: i64p(200), Access: "r"},
		},
		{ // allow all, then carve out
			{Allow: true, Access: "rwm"},
			{Allow: false, Type: "b", Access: "rwm"},
			{Allow: true, Type: "b", Major: i64p(7), Access: "r"},
		},
	}
	devices := []struct {
		typ          byte
		major, minor int64
	}{{'c', 1, 3}, {'c', 1, 5}, {'c', 5, 0}, {'c', 136, 4}, {'c', 10, 200}, {'c', 10, 1}, {'b', 8, 0}, {'b', 8, 1}, {'b', 7, 3}, {'c', 4, 1}}
	for i, set := range ruleSets {
		rules := mustRules(t, set)
		prog := deviceFilterProgram(rules)
		for _, d := range devices {
			devType := uint32(devcgDevChar)
			if d.typ == 'b' {
				devType = devcgDevBlock
			}
			for access := uint32(1); access <= 7; access++ {
				want := refDecision(rules, d.typ, access, d.major, d.minor)
				got := evalDeviceProgram(t, prog, devType, access, uint32(d.major), uint32(d.minor)) == 1
				if got != want {
					t.Errorf("set %d: %c %d:%d access %03b: program says %v, rules say %v", i, d.typ, d.major, d.minor, access, got, want)
				}
			}
		}
	}
}

func TestNormaliseDeviceRule(t *testing.T) {
	for _, tc := range []struct {
		in   specs.LinuxDeviceCgroup
		want string
	}{
		{specs.LinuxDeviceCgroup{Allow: true}, "a *:* rwm"},
		{specs.LinuxDeviceCgroup{Type: "c", Major: i64p(1), Minor: i64p(3), Access: "wr"}, "c 1:3 rw"},
		{specs.LinuxDeviceCgroup{Type: "b", Major: i64p(8), Access: "m"}, "b 8:* m"},
	} {
		d, err := normaliseDeviceRule(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if d.String() != tc.want {
			t.Errorf("%+v: got %q want %q", tc.in, d.String(), tc.want)
		}
	}
	for _, bad := range []specs.LinuxDeviceCgroup{{Type: "x"}, {Access: "rwx"}, {Type: "c", Major: i64p(-5)}} {
		if _, err := normaliseDeviceRule(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestEncodeProgram(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("expected bytes are for a little-endian machine")
	}
	b := encodeProgram([]bpfInsn{{Code: opLdxMemW, Dst: regR4, Src: regR1, Off: 4}, {Code: opJneImm, Dst: regR2, Off: -2, Imm: 0x01020304}})
	want := []byte{0x61, 0x14, 4, 0, 0, 0, 0, 0, 0x55, 0x02, 0xfe, 0xff, 4, 3, 2, 1}
	if string(b) != string(want) {
		t.Fatalf("encoded % x, want % x", b, want)
	}
}
