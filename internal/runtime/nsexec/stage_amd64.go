package nsexec

import _ "embed"

// stageELF is stage.c built by gen.go.
//
//go:embed berth-nsexec.amd64
var stageELF []byte
