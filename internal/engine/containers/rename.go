package containers

import (
	"context"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-project/berth/internal/errdefs"
)

// Rename gives the container a new name.
func (s *Service) Rename(_ context.Context, ref, newName string) error {
	if !validName().MatchString(newName) {
		return errdefs.InvalidArgumentf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName)
	}
	c, unlock, err := s.getLocked(ref)
	if err != nil {
		return err
	}
	defer unlock()
	newName = trimSlash(newName)
	if c.Name == newName {
		return errdefs.InvalidArgumentf("Renaming a container with the same name as its current name")
	}
	old := c.Name
	c.Name = newName
	if s.cfg.Network != nil {
		s.cfg.Network.Rename(c, old)
	}
	if err := s.save(c); err != nil {
		return err
	}
	s.emit(c, eventtypes.ActionRename, map[string]string{"oldName": "/" + old})
	return nil
}
