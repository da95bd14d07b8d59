// Package engine holds the integration tests of berth's engine: a real
// daemon on a temporary socket and data root, driven with the berth CLI,
// the real docker CLI and the moby client, with runc as the runtime.
package engine
