// Package creds writes what a registry with basic auth and TLS needs: an
// htpasswd file (bcrypt) and a self-signed certificate for the loopback
// address, for the registry conformance run (hack/registry-creds) and
// tests.
package creds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Files are the paths Write wrote.
type Files struct {
	Htpasswd, Cert, Key string
}

// Write writes dir/htpasswd with user and pass (bcrypt of cost; tests
// take bcrypt.MinCost), and dir/cert.pem and dir/key.pem (SelfSigned).
func Write(dir, user, pass string, cost int) (Files, error) {
	f := Files{Htpasswd: filepath.Join(dir, "htpasswd"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
	if err != nil {
		return f, fmt.Errorf("htpasswd: %w", err)
	}
	if err := os.WriteFile(f.Htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		return f, err
	}
	cert, key, err := SelfSigned()
	if err != nil {
		return f, err
	}
	if err := os.WriteFile(f.Cert, cert, 0o644); err != nil {
		return f, err
	}
	return f, os.WriteFile(f.Key, key, 0o600)
}

// SelfSigned returns a PEM certificate for 127.0.0.1 and localhost,
// valid for a day and its own CA, and its PEM key.
func SelfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
