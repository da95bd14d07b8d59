//go:build !amd64

package hello

// program is empty where no hello program is built (see hello_amd64.S).
var program []byte
