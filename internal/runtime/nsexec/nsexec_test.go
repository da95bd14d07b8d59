package nsexec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOpcodesMatch: plan.go's operation numbers are stage.c's.
func TestOpcodesMatch(t *testing.T) {
	src, err := os.ReadFile("stage/stage.c")
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]int{}
	for _, m := range regexp.MustCompile(`\bOP_([A-Z_]+) = (\d+),`).FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[2])
		c[strings.ReplaceAll(strings.ToLower(m[1]), "_", "")] = n
	}
	goSrc, err := os.ReadFile("nsexec.go")
	if err != nil {
		t.Fatal(err)
	}
	g := map[string]int{}
	for _, m := range regexp.MustCompile(`\bOp([A-Za-z]+)\s+= (\d+)`).FindAllStringSubmatch(string(goSrc), -1) {
		n, _ := strconv.Atoi(m[2])
		g[strings.ToLower(m[1])] = n
	}
	if len(c) < 40 || len(c) != len(g) {
		t.Fatalf("%d operations in stage.c, %d in nsexec.go", len(c), len(g))
	}
	for name, n := range c {
		if g[name] != n {
			t.Errorf("OP_%s = %d in stage.c, %d in nsexec.go", strings.ToUpper(name), n, g[name])
		}
	}
}

// TestStageReproducible rebuilds the stage with gen.go's command and
// compares it with the embedded one, when the recorded compiler is here.
func TestStageReproducible(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the stage is built for amd64")
	}
	rec, err := os.ReadFile("build.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(rec), "\n", 3)
	got, err := toolchain()
	if err != nil {
		t.Skipf("cannot rebuild the stage: %v", err)
	}
	if got != lines[0] {
		t.Skipf("the toolchain is %q, the stage was built with %q", got, lines[0])
	}
	dst := filepath.Join(t.TempDir(), "stage")
	args := append(strings.Fields(strings.TrimPrefix(lines[1], "gcc ")), "-o", dst, "stage/stage.c")
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	built, _ := os.ReadFile(dst)
	if !bytes.Equal(built, stageELF) {
		t.Fatal("berth-nsexec.amd64 is not what stage/stage.c builds: run go generate ./internal/runtime/nsexec")
	}
	// errnos.h holds Go's texts.
	h, _ := os.ReadFile("stage/errnos.h")
	for _, e := range []syscall.Errno{unix.ENOENT, unix.EPERM, unix.EROFS} {
		if !bytes.Contains(h, []byte(strconv.Quote(e.Error()))) {
			t.Errorf("errnos.h lacks %q", e.Error())
		}
	}
}

func TestPlanEncoding(t *testing.T) {
	var p Plan
	p.Op(OpMount, "src", "dst", "", uint64(7), "", "ctx")
	p.Op(OpEnv, []string{"A=1", "B=2"})
	p.Op(OpSetUser, 1, 2, []uint32{3, 4}, "g")
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != planMagic || int(binary.LittleEndian.Uint32(b[8:])) != len(b)-12 {
		t.Fatalf("header %q", b[:12])
	}
	body := b[12:]
	op := func() (code int, args [][]byte) {
		code = int(binary.LittleEndian.Uint32(body))
		n := int(binary.LittleEndian.Uint32(body[4:]))
		body = body[8:]
		for i := 0; i < n; i++ {
			l := int(binary.LittleEndian.Uint32(body))
			args = append(args, body[4:4+l])
			body = body[4+l:]
		}
		return
	}
	code, args := op()
	if code != OpMount || len(args) != 6 || string(args[0]) != "src\x00" || string(args[2]) != "\x00" ||
		binary.LittleEndian.Uint64(args[3]) != 7 {
		t.Fatalf("mount: %d %q", code, args)
	}
	if code, args = op(); code != OpEnv || string(args[0]) != "A=1\x00B=2\x00" {
		t.Fatalf("env: %d %q", code, args)
	}
	if code, args = op(); code != OpSetUser || len(args[2]) != 8 || binary.LittleEndian.Uint32(args[2][4:]) != 4 {
		t.Fatalf("setuser: %d %q", code, args)
	}
	if len(body) != 0 {
		t.Fatalf("%d bytes left", len(body))
	}
	var bad Plan
	bad.Op(OpEnv, "a\x00b")
	if _, err := bad.Bytes(); err == nil {
		t.Fatal("a NUL in a string argument must be refused")
	}
}

// runStage feeds raw bytes to the stage as its plan and returns what it
// reports on the sync socket and its exit status.
func runStage(t *testing.T, plan []byte) (map[string]any, int) {
	t.Helper()
	f, err := Stage()
	if err != nil {
		t.Skip(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, childEnd := os.NewFile(uintptr(fds[0]), "p"), os.NewFile(uintptr(fds[1]), "c")
	defer parent.Close()
	cmd := exec.Command("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), "3")
	cmd.Args = Argv(3)
	cmd.ExtraFiles = []*os.File{childEnd}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	parent.Write(plan)
	unix.Shutdown(int(parent.Fd()), unix.SHUT_WR) // the end of the plan
	parent.SetReadDeadline(time.Now().Add(60 * time.Second))
	var msg map[string]any
	if err := json.NewDecoder(parent).Decode(&msg); err != nil {
		t.Fatalf("no message from the stage: %v (stderr %q)", err, stderr.String())
	}
	cmd.Wait()
	return msg, cmd.ProcessState.ExitCode()
}

// TestStageRejectsBadPlans: a damaged plan is an error message, never a
// crash or a half-done setup.
func TestStageRejectsBadPlans(t *testing.T) {
	good := func(p *Plan) []byte {
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var unknown Plan
	unknown.Op(999)
	var wrongType Plan
	wrongType.Op(OpUmask, "not a number")
	var noExec Plan
	noExec.Op(OpUmask, 0o22)
	var missing Plan
	missing.Op(OpChdir, "/no/such/dir/for/berth", "chdir to cwd")
	trunc := good(&noExec)
	binary.LittleEndian.PutUint32(trunc[8:], uint32(len(trunc)-12+100))
	for _, c := range []struct {
		name string
		plan []byte
		want string
	}{
		{"magic", []byte("NOTAPLAN\x00\x00\x00\x00"), "plan: bad header"},
		{"unknown op", good(&unknown), "plan: unknown operation 999"},
		{"wrong type", good(&wrongType), "is not an integer"},
		{"no exec", good(&noExec), "plan ended without exec"},
		{"truncated", trunc, "unexpected end of stream"},
		{"errno", good(&missing), "chdir to cwd: no such file or directory"},
	} {
		msg, code := runStage(t, c.plan)
		if code != 1 || msg["type"] != "error" || !strings.Contains(msg["error"].(string), c.want) {
			t.Errorf("%s: exit %d, message %v, want an error with %q", c.name, code, msg, c.want)
		}
	}
	msg, _ := runStage(t, good(&missing))
	if msg["errno"] != float64(unix.ENOENT) {
		t.Errorf("errno %v, want %d", msg["errno"], unix.ENOENT)
	}
}

// toolchain names gcc and the assembler and linker it runs (gen.go records
// it): only the same toolchain rebuilds the stage byte for byte.
func toolchain() (string, error) {
	var parts []string
	for _, argv := range [][]string{{"gcc", "--version"}, {"gcc", "-print-prog-name=as"}, {"gcc", "-print-prog-name=ld"}} {
		b, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimSpace(line)
		if argv[1] != "--version" {
			v, err := exec.Command(line, "--version").Output()
			if err != nil {
				return "", err
			}
			line, _, _ = strings.Cut(string(v), "\n")
			line = strings.TrimSpace(line)
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; "), nil
}
