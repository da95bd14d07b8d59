// Package events is the engine's event bus: operations publish Docker
// event messages; /events subscribers get the recent past and then live
// messages.
package events

import (
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// historySize is how many past events a new subscriber can ask for.
const historySize = 1024

// Bus fans messages out to subscribers and keeps a short history.
type Bus struct {
	mu      sync.Mutex
	history []events.Message
	subs    map[chan events.Message]struct{}
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[chan events.Message]struct{}{}} }

// Publish records and sends a message (stamped with the current time).
// A subscriber that does not keep up loses messages rather than slowing
// the engine.
func (b *Bus) Publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	m := events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.history = append(b.history, m)
	if len(b.history) > historySize {
		b.history = append([]events.Message(nil), b.history[len(b.history)-historySize:]...)
	}
	for ch := range b.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// Subscribe returns the recorded messages at or after since (none when
// since is zero) and a channel of the next ones; cancel ends the
// subscription.
func (b *Bus) Subscribe(since time.Time) (past []events.Message, live <-chan events.Message, cancel func()) {
	ch := make(chan events.Message, 256)
	b.mu.Lock()
	if !since.IsZero() {
		for _, m := range b.history {
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return past, ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}

// Match reports whether m passes Docker's event filters (type, event,
// container, volume, image, label); values of one key are ORed, keys
// ANDed.
func Match(m events.Message, filters map[string][]string) bool {
	anyOf := func(key string, ok func(string) bool) bool {
		vals := filters[key]
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if ok(v) {
				return true
			}
		}
		return false
	}
	actor := func(typ events.Type) func(string) bool {
		return func(v string) bool {
			return m.Type == typ && (m.Actor.ID == v || strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v)
		}
	}
	return anyOf("type", func(v string) bool { return string(m.Type) == v }) &&
		anyOf("event", func(v string) bool { return string(m.Action) == v || strings.HasPrefix(string(m.Action), v+":") }) &&
		anyOf("container", actor(events.ContainerEventType)) &&
		anyOf("volume", actor(events.VolumeEventType)) &&
		anyOf("image", func(v string) bool { return m.Actor.Attributes["image"] == v }) &&
		anyOf("label", func(v string) bool {
			k, val, hasV := strings.Cut(v, "=")
			got, ok := m.Actor.Attributes[k]
			return ok && (!hasV || got == val)
		})
}
