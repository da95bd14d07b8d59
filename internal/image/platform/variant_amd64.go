package platform

// hostVariant returns the x86-64 micro-architecture level of this CPU
// (https://gitlab.com/x86-psABIs/x86-64-ABI), "" for the baseline, by the
// features golang.org/x/sys/cpu reports (TestHostVariantMatchesXSysCPU).
// It asks the CPU itself, when first needed: x/sys/cpu does it at the
// initialization of every berth process, where each cpuid traps to the
// hypervisor of a VM (docs/ARCHITECTURE.md).
func hostVariant() string {
	_, _, ecx1, _ := cpuid(1, 0)
	has := func(reg uint32, bit uint) bool { return reg&(1<<bit) != 0 }
	v2 := has(ecx1, 0) && has(ecx1, 9) && has(ecx1, 19) && has(ecx1, 20) && has(ecx1, 23) && has(ecx1, 13) // SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CX16
	osxsave := has(ecx1, 27)
	// AVX state (XMM and YMM) and AVX-512 state (opmask, ZMM) enabled by
	// the kernel, as x/sys/cpu checks.
	var xcr0 uint32
	if osxsave {
		xcr0, _ = xgetbv()
	}
	osAVX := osxsave && xcr0&0x6 == 0x6
	osAVX512 := osAVX && xcr0&0xe0 == 0xe0
	var ebx7 uint32
	if maxID, _, _, _ := cpuid(0, 0); maxID >= 7 {
		_, ebx7, _, _ = cpuid(7, 0)
	}
	v3 := v2 && osAVX && has(ecx1, 28) && has(ebx7, 5) && has(ebx7, 3) && has(ebx7, 8) && has(ecx1, 12) && osxsave // AVX, AVX2, BMI1, BMI2, FMA
	v4 := v3 && osAVX512 && has(ebx7, 16) && has(ebx7, 30) && has(ebx7, 28) && has(ebx7, 17) && has(ebx7, 31)      // AVX-512 F, BW, CD, DQ, VL
	switch {
	case v4:
		return "v4"
	case v3:
		return "v3"
	case v2:
		return "v2"
	}
	return ""
}

// cpuid executes CPUID with eax and ecx.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads the extended control register XCR0.
func xgetbv() (eax, edx uint32)
