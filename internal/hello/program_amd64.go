package hello

import _ "embed"

//go:embed hello-amd64
var program []byte
