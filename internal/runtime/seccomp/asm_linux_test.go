package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestAssembleTrampolines places jump targets beyond the 255 instructions a
// conditional jump reaches, on both branches, and checks the outcome.
func TestAssembleTrampolines(t *testing.T) {
	b := &builder{}
	far1, far2, near := b.newLabel(), b.newLabel(), b.newLabel()
	b.loadAbs(offNr)
	b.jump(unix.BPF_JEQ, 1, far1, near)
	b.mark(near)
	b.jump(unix.BPF_JEQ, 2, far2, far1)
	for i := 0; i < 600; i++ {
		b.loadAbs(offNr) // filler
	}
	b.ret(99)
	b.mark(far1)
	b.ret(100)
	for i := 0; i < 300; i++ {
		b.loadAbs(offNr)
	}
	b.mark(far2)
	b.ret(200)
	prog, err := b.assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) <= 600+300+5 {
		t.Fatalf("no trampolines inserted: %d instructions", len(prog))
	}
	for nr, want := range map[uint32]uint32{1: 100, 2: 200, 3: 100} {
		got, err := runBPF(prog, seccompData{nr: nr})
		if err != nil || got != want {
			t.Errorf("nr %d: got %d, %v; want %d", nr, got, err, want)
		}
	}
}

func TestAssembleRejectsBackwardJumps(t *testing.T) {
	b := &builder{}
	l := b.newLabel()
	b.mark(l)
	b.loadAbs(offNr)
	b.ja(l)
	if _, err := b.assemble(); err == nil {
		t.Fatal("backward jump assembled")
	}
}

func BenchmarkCompileDefaultProfile(b *testing.B) {
	s := DefaultProfile(nil)
	for i := 0; i < b.N; i++ {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}
