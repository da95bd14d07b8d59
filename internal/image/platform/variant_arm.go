package platform

// hostVariant: 32-bit arm builds assume ARMv7, the common hard-float target.
func hostVariant() string { return "v7" }
