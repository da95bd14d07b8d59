package platform

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestHostVariantMatchesXSysCPU: hostVariant's own CPUID reading gives the
// level that golang.org/x/sys/cpu's feature flags give on this machine.
func TestHostVariantMatchesXSysCPU(t *testing.T) {
	x := cpu.X86
	v2 := x.HasSSE3 && x.HasSSSE3 && x.HasSSE41 && x.HasSSE42 && x.HasPOPCNT && x.HasCX16
	v3 := v2 && x.HasAVX && x.HasAVX2 && x.HasBMI1 && x.HasBMI2 && x.HasFMA && x.HasOSXSAVE
	v4 := v3 && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512CD && x.HasAVX512DQ && x.HasAVX512VL
	want := ""
	switch {
	case v4:
		want = "v4"
	case v3:
		want = "v3"
	case v2:
		want = "v2"
	}
	if got := hostVariant(); got != want {
		t.Fatalf("hostVariant() = %q, x/sys/cpu says %q", got, want)
	}
	t.Logf("this host: amd64 %q", want)
}
