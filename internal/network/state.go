package network

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// State is what the daemon writes on every change of networks or
// endpoints: the leases of running containers, read back by a restarted
// daemon to reconcile, and the names berth's resolver answers for. It
// lives in the exec root (tmpfs): containers do not survive a reboot
// either.
type State struct {
	Networks  []StateNetwork
	Endpoints []Endpoint
}

// StateNetwork is a bridge network as the resolver sees it.
type StateNetwork struct {
	ID, Name, Bridge string
	Subnet           netip.Prefix
	Gateway          netip.Addr
	Internal         bool
	// DNS is set on user-defined networks: their containers ask the
	// resolver, at the gateway address.
	DNS bool
}

// ReadState loads the state at path; a missing file is an empty state.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &State{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &s, nil
}

// WriteState replaces the state at path atomically. It is not synced to
// disk: it is rebuilt from the containers' records after a crash.
func WriteState(path string, s *State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
