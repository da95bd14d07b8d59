package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// label names a position in a program under construction.
type label int

// insn is one instruction of a program under construction. Jumps name their
// targets by label; assemble turns them into cBPF's forward offsets.
type insn struct {
	code   uint16
	k      uint32
	jt, jf label // conditional jumps
	to     label // BPF_JA
	mark   bool  // pseudo instruction: defines label lbl here
	lbl    label
}

func (i insn) isCondJump() bool {
	return i.code&0x07 == unix.BPF_JMP && i.code&0xf0 != unix.BPF_JA
}

func (i insn) isJA() bool { return i.code == unix.BPF_JMP|unix.BPF_JA }

// builder assembles a cBPF program with symbolic jump targets.
type builder struct {
	insns  []insn
	labels int
}

func (b *builder) newLabel() label {
	b.labels++
	return label(b.labels)
}

// mark places l at the current end of the program.
func (b *builder) mark(l label) { b.insns = append(b.insns, insn{mark: true, lbl: l}) }

func (b *builder) stmt(code uint16, k uint32) { b.insns = append(b.insns, insn{code: code, k: k}) }

// loadAbs loads the 32-bit word at offset off of seccomp_data into A.
func (b *builder) loadAbs(off uint32) { b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }

func (b *builder) andK(k uint32) { b.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k) }

func (b *builder) ret(k uint32) { b.stmt(unix.BPF_RET|unix.BPF_K, k) }

// jump emits a conditional jump (op is BPF_JEQ, BPF_JGT, BPF_JGE or BPF_JSET) comparing A with k.
func (b *builder) jump(op uint16, k uint32, jt, jf label) {
	b.insns = append(b.insns, insn{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

// ja emits an unconditional jump.
func (b *builder) ja(to label) {
	b.insns = append(b.insns, insn{code: unix.BPF_JMP | unix.BPF_JA, to: to})
}

// maxCondJump is the farthest a cBPF conditional jump reaches (8-bit offsets).
const maxCondJump = 255

// assemble resolves the labels. Conditional jumps whose target lies beyond
// maxCondJump get a trampoline (an unconditional BPF_JA, whose offset is
// 32-bit) placed right after them; as inserting trampolines moves code, this
// repeats until every jump fits.
func (b *builder) assemble() ([]unix.SockFilter, error) {
	for round := 0; ; round++ {
		pos, err := b.positions()
		if err != nil {
			return nil, err
		}
		var out []insn
		changed := false
		pc := 0
		for _, in := range b.insns {
			if in.mark {
				out = append(out, in)
				continue
			}
			if !in.isCondJump() {
				out = append(out, in)
				pc++
				continue
			}
			farT := pos[in.jt]-(pc+1) > maxCondJump
			farF := pos[in.jf]-(pc+1) > maxCondJump
			if !farT && !farF {
				out = append(out, in)
				pc++
				continue
			}
			changed = true
			var tramps []insn
			if farT {
				l := b.newLabel()
				tramps = append(tramps, insn{mark: true, lbl: l}, insn{code: unix.BPF_JMP | unix.BPF_JA, to: in.jt})
				in.jt = l
			}
			if farF {
				l := b.newLabel()
				tramps = append(tramps, insn{mark: true, lbl: l}, insn{code: unix.BPF_JMP | unix.BPF_JA, to: in.jf})
				in.jf = l
			}
			out = append(out, in)
			out = append(out, tramps...)
			pc++
		}
		b.insns = out
		if !changed {
			return b.encode(pos)
		}
		if round > 64 {
			return nil, fmt.Errorf("seccomp: jump layout did not converge")
		}
	}
}

// positions maps each label to the index of the instruction that follows it.
func (b *builder) positions() (map[label]int, error) {
	pos := make(map[label]int, b.labels)
	pc := 0
	for _, in := range b.insns {
		if in.mark {
			if _, dup := pos[in.lbl]; dup {
				return nil, fmt.Errorf("seccomp: internal error: label %d placed twice", in.lbl)
			}
			pos[in.lbl] = pc
			continue
		}
		pc++
	}
	return pos, nil
}

func (b *builder) encode(pos map[label]int) ([]unix.SockFilter, error) {
	var prog []unix.SockFilter
	offset := func(pc int, l label) (int, error) {
		p, ok := pos[l]
		if !ok {
			return 0, fmt.Errorf("seccomp: internal error: label %d never placed", l)
		}
		if p <= pc {
			return 0, fmt.Errorf("seccomp: internal error: backward jump to label %d", l)
		}
		return p - (pc + 1), nil
	}
	for _, in := range b.insns {
		if in.mark {
			continue
		}
		pc := len(prog)
		f := unix.SockFilter{Code: in.code, K: in.k}
		switch {
		case in.isJA():
			off, err := offset(pc, in.to)
			if err != nil {
				return nil, err
			}
			f.K = uint32(off)
		case in.isCondJump():
			t, err := offset(pc, in.jt)
			if err != nil {
				return nil, err
			}
			e, err := offset(pc, in.jf)
			if err != nil {
				return nil, err
			}
			f.Jt, f.Jf = uint8(t), uint8(e)
		}
		prog = append(prog, f)
	}
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: filter has %d instructions, more than the kernel's limit of %d", len(prog), unix.BPF_MAXINSNS)
	}
	return prog, nil
}
