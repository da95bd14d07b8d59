package events

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

func TestBus(t *testing.T) {
	b := New()
	start := time.Now()
	b.Publish(events.ContainerEventType, events.ActionCreate, "abc123", map[string]string{"name": "web", "image": "busybox"})
	past, live, cancel := b.Subscribe(start)
	defer cancel()
	if len(past) != 1 || past[0].Action != events.ActionCreate {
		t.Fatalf("past %v", past)
	}
	b.Publish(events.VolumeEventType, events.ActionCreate, "vol", nil)
	m := <-live
	if m.Type != events.VolumeEventType || m.Scope != "local" || m.TimeNano == 0 {
		t.Fatalf("live %+v", m)
	}
	if !Match(past[0], map[string][]string{"container": {"web"}, "event": {"create"}}) {
		t.Fatal("filter by name")
	}
	if Match(past[0], map[string][]string{"type": {"volume"}}) || Match(m, map[string][]string{"container": {"vol"}}) {
		t.Fatal("filter by type")
	}
}
