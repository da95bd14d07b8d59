package cgroups

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// freezeTimeout bounds how long Freeze waits for the kernel to stop every
// task (a task in uninterruptible sleep holds a v1 freeze in FREEZING).
const freezeTimeout = 10 * time.Second

func (m *manager) freezerDir() (dir string, v2 bool, err error) {
	if m.mode == modeUnified {
		return m.unifiedDir(), true, nil
	}
	if d := m.subsystemDir("freezer"); d != "" {
		return d, false, nil
	}
	return "", false, errors.New("freezer cgroup not mounted")
}

func (m *manager) Freeze() error {
	dir, v2, err := m.freezerDir()
	if err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	if v2 {
		err = freezeV2(dir)
	} else {
		err = freezeV1(dir)
	}
	if err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

func (m *manager) Thaw() error {
	dir, v2, err := m.freezerDir()
	if err == nil {
		if v2 {
			err = writeFile(dir, "cgroup.freeze", "0")
		} else {
			err = writeFile(dir, "freezer.state", Thawed)
		}
	}
	if err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

func (m *manager) FreezerState() (string, error) {
	dir, v2, err := m.freezerDir()
	if err != nil {
		return "", fmt.Errorf("freezer state: %w", err)
	}
	var frozen bool
	if v2 {
		frozen, err = frozenV2(dir)
	} else {
		var s string
		s, err = readFile(dir, "freezer.state")
		frozen = strings.TrimSpace(s) == Frozen
	}
	if err != nil {
		return "", fmt.Errorf("freezer state: %w", err)
	}
	if frozen {
		return Frozen, nil
	}
	return Thawed, nil
}

// freezeV1 writes FROZEN and polls freezer.state until the kernel has
// stopped every task (it reads FREEZING meanwhile). Writing FROZEN again
// retries the tasks that were busy. On timeout the cgroup is thawed.
func freezeV1(dir string) error {
	deadline := time.Now().Add(freezeTimeout)
	delay := time.Millisecond
	for {
		if err := writeFile(dir, "freezer.state", Frozen); err != nil {
			return err
		}
		s, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		if strings.TrimSpace(s) == Frozen {
			return nil
		}
		if time.Now().After(deadline) {
			if terr := writeFile(dir, "freezer.state", Thawed); terr != nil {
				return errors.Join(fmt.Errorf("cgroup %s still %s after %v", dir, s, freezeTimeout), terr)
			}
			return fmt.Errorf("cgroup %s still %s after %v", dir, s, freezeTimeout)
		}
		time.Sleep(delay)
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// freezeV2 writes cgroup.freeze and waits for "frozen 1" in cgroup.events.
func freezeV2(dir string) error {
	if err := writeFile(dir, "cgroup.freeze", "1"); err != nil {
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	delay := time.Millisecond
	for {
		ev, err := readKeyed(dir, "cgroup.events")
		if err != nil {
			return err
		}
		if ev["frozen"] == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			if terr := writeFile(dir, "cgroup.freeze", "0"); terr != nil {
				return errors.Join(fmt.Errorf("cgroup %s not frozen after %v", dir, freezeTimeout), terr)
			}
			return fmt.Errorf("cgroup %s not frozen after %v", dir, freezeTimeout)
		}
		time.Sleep(delay)
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// frozenV2 is true when freezing was asked for and the kernel reports
// every task frozen.
func frozenV2(dir string) (bool, error) {
	s, err := readFile(dir, "cgroup.freeze")
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(s) != "1" {
		return false, nil
	}
	ev, err := readKeyed(dir, "cgroup.events")
	if err != nil {
		return false, err
	}
	return ev["frozen"] == 1, nil
}
