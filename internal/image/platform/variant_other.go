//go:build !amd64 && !arm

package platform

// hostVariant: arm64 and the other architectures use no variant by default.
func hostVariant() string { return "" }
