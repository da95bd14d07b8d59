package cgroups

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDevicesV1Target(t *testing.T) {
	for _, tc := range []struct {
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{nil, ""},
		{[]specs.LinuxDeviceCgroup{{Allow: true}}, "a *:* rwm"},
		{[]specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "r"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "w"},
			{Allow: true, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64p(1), Minor: i64p(5), Access: "m"},
			{Allow: true, Type: "b", Access: "m"},
			{Allow: true, Type: "c", Major: i64p(4), Access: "r"},
			{Allow: false, Type: "c", Major: i64p(4), Access: "r"},
		}, "b *:* m\nc 1:3 rw\nc 1:5 rw"},
	} {
		got := strings.Join(devicesV1Target(mustRules(t, tc.rules)).list(), "\n")
		if got != tc.want {
			t.Errorf("%+v: list %q, want %q", tc.rules, got, tc.want)
		}
	}
	rules := mustRules(t, []specs.LinuxDeviceCgroup{{Allow: false}, {Allow: true, Type: "c", Major: i64p(1), Minor: i64p(3), Access: "rwm"}})
	if !devicesV1Unchanged("c 1:3 rwm\n", rules) || devicesV1Unchanged("a *:* rwm\n", rules) {
		t.Error("devicesV1Unchanged")
	}
	allowButNull := mustRules(t, []specs.LinuxDeviceCgroup{{Allow: true}, {Allow: false, Type: "c", Major: i64p(1), Minor: i64p(3)}})
	if devicesV1Unchanged("a *:* rwm\n", allowButNull) {
		t.Error("hidden deny exceptions cannot be known to be unchanged")
	}
}
