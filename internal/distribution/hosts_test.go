package distribution

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInsecureRegistries(t *testing.T) {
	h := newHosts(Options{InsecureRegistries: []string{"reg.example:5000", "10.1.0.0/16", "http://plain.example/"}})
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.9.9.9": true, "localhost:5000": true, "[::1]:5000": true,
		"reg.example:5000": true, "reg.example:6000": false, "10.1.2.3:5000": true, "10.2.0.1": false,
		"plain.example": true, "quay.io": false,
	} {
		if got := h.isInsecure(host); got != want {
			t.Errorf("isInsecure(%q) = %v, want %v", host, got, want)
		}
	}
	eps, err := h.endpoints("docker.io")
	if err != nil || len(eps) != 1 || eps[0].host != "registry-1.docker.io" || eps[0].scheme != "https" || eps[0].insecure {
		t.Fatalf("docker.io endpoints %+v %v", eps, err)
	}
	h = newHosts(Options{Mirrors: []string{"https://mirror.example/prefix/", "http://127.0.0.1:5001"}})
	eps, err = h.endpoints("docker.io")
	if err != nil || len(eps) != 3 || eps[0].base() != "https://mirror.example/prefix" || !eps[0].mirror ||
		eps[1].base() != "http://127.0.0.1:5001" || eps[2].host != "registry-1.docker.io" {
		t.Fatalf("mirror endpoints %+v %v", eps, err)
	}
	if _, err := newHosts(Options{Mirrors: []string{"ftp://x"}}).endpoints("docker.io"); err == nil {
		t.Fatal("bad mirror accepted")
	}
	eps, _ = h.endpoints("quay.io")
	if len(eps) != 1 || eps[0].mirror {
		t.Fatalf("mirrors used for quay.io: %+v", eps)
	}
}

// TestCertsDir talks to a TLS server that requires a client certificate,
// with a CA and client certificate from <certs.d>/<host>/ as Docker lays
// them out, and fails without them.
func TestCertsDir(t *testing.T) {
	ca, caKey := newCA(t)
	serverCert := issue(t, ca, caKey, false)
	clientCert := issue(t, ca, caKey, true)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")

	certs := t.TempDir()
	dir := filepath.Join(certs, host)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o644)
	os.WriteFile(filepath.Join(dir, "client.cert"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientCert.Certificate[0]}), 0o644)
	kb, _ := x509.MarshalECPrivateKey(clientCert.PrivateKey.(*ecdsa.PrivateKey))
	os.WriteFile(filepath.Join(dir, "client.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)

	get := func(h *hosts) error {
		// A verifying endpoint (not insecure) for the loopback test server.
		e := &endpoint{scheme: "https", host: host}
		if err := h.attach(e); err != nil {
			return err
		}
		resp, err := e.client.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(newHosts(Options{CertsDir: certs})); err != nil {
		t.Fatalf("with certs.d: %v", err)
	}
	if err := get(newHosts(Options{CertsDir: t.TempDir()})); err == nil {
		t.Fatal("verified without the CA")
	}
	os.Remove(filepath.Join(dir, "client.cert"))
	if err := get(newHosts(Options{CertsDir: certs})); err == nil || !strings.Contains(err.Error(), "client.key has no matching .cert") {
		t.Fatalf("key without cert: %v", err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, client bool) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
