package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The URL comes from the line that serve logs, whatever comes around it,
// and the log is read to its end.
func TestListeningURL(t *testing.T) {
	var log bytes.Buffer
	l := slog.New(slog.NewTextHandler(&log, nil))
	l.Info("loading", "url", "http://wrong:1")
	l.Info(listeningMsg, "url", "https://127.0.0.1:5000", "root", "/x y", "mode", "read-only")
	l.Info("later", "url", "http://127.0.0.1:6000")
	r := strings.NewReader(log.String())
	select {
	case u := <-ListeningURL(r):
		if u != "https://127.0.0.1:5000" {
			t.Fatalf("url %q", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no url")
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if r.Len() > 0 {
		t.Errorf("%d bytes of the log left unread", r.Len())
	}
}
