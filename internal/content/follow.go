package content

import (
	"fmt"
	"os"
	"path/filepath"
)

// OpenData opens the data written so far for reading: the ingest file,
// opened again. A consumer can follow a blob while it is written (a pull
// unpacks a layer as it downloads); the descriptor stays valid after
// Commit or Close.
func (w *Writer) OpenData() (*os.File, error) {
	f, err := os.Open(filepath.Join(w.dir, "data"))
	if err != nil {
		return nil, fmt.Errorf("content writer %q: %w", w.ref, err)
	}
	return f, nil
}
