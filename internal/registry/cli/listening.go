package cli

import (
	"bufio"
	"io"
	"strings"
)

// listeningMsg is the log message that says where `berth registry serve`
// listens; its url attribute is the registry's URL.
const listeningMsg = "berth registry listening"

// ListeningURL reads the log (the stderr) of `berth registry serve` and
// sends on the returned channel the URL from the line that says where it
// listens ("http://127.0.0.1:5000"). It reads the log to its end, so that
// the server never blocks writing it.
func ListeningURL(log io.Reader) <-chan string {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(log)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if sent || !strings.Contains(line, listeningMsg) {
				continue
			}
			if _, rest, ok := strings.Cut(line, " url="); ok {
				url, _, _ := strings.Cut(rest, " ")
				found <- url
				sent = true
			}
		}
	}()
	return found
}
