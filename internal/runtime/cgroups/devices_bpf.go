package cgroups

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// This file generates the BPF_PROG_TYPE_CGROUP_DEVICE program that
// enforces device rules on cgroup v2, where the devices controller is an
// eBPF hook instead of devices.allow/devices.deny files. The program is
// hand-assembled: it is a short list of compares.
//
// The kernel calls it with a struct bpf_cgroup_dev_ctx:
//
//	u32 access_type; // (access << 16) | device type
//	u32 major;
//	u32 minor;
//
// and allows the access when it returns 1.

// Register numbers.
const (
	regR0 = 0
	regR1 = 1
	regR2 = 2
	regR3 = 3
	regR4 = 4
	regR5 = 5
)

// Opcodes (classes, sizes, operations and sources from linux/bpf.h).
const (
	opLdxMemW    = 0x61 // BPF_LDX | BPF_MEM | BPF_W
	opAnd32Imm   = 0x54 // BPF_ALU | BPF_AND | BPF_K
	opRsh32Imm   = 0x74 // BPF_ALU | BPF_RSH | BPF_K
	opMov32Imm   = 0xb4 // BPF_ALU | BPF_MOV | BPF_K
	opMov32Reg   = 0xbc // BPF_ALU | BPF_MOV | BPF_X
	opJeqImm     = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	opJneImm     = 0x55 // BPF_JMP | BPF_JNE | BPF_K
	opJsetImm    = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	opExit       = 0x95 // BPF_JMP | BPF_EXIT
	bpfInsnBytes = 8
)

// Device types and access bits of bpf_cgroup_dev_ctx.
const (
	devcgDevBlock = 1
	devcgDevChar  = 2
	devcgAccMknod = 1
	devcgAccRead  = 2
	devcgAccWrite = 4
)

// bpfInsn is one struct bpf_insn.
type bpfInsn struct {
	Code uint8
	Dst  uint8
	Src  uint8
	Off  int16
	Imm  int32
}

func (i bpfInsn) String() string {
	switch i.Code {
	case opLdxMemW:
		return fmt.Sprintf("ldxw r%d, [r%d%+d]", i.Dst, i.Src, i.Off)
	case opAnd32Imm:
		return fmt.Sprintf("and32 r%d, %#x", i.Dst, i.Imm)
	case opRsh32Imm:
		return fmt.Sprintf("rsh32 r%d, %d", i.Dst, i.Imm)
	case opMov32Imm:
		return fmt.Sprintf("mov32 r%d, %d", i.Dst, i.Imm)
	case opMov32Reg:
		return fmt.Sprintf("mov32 r%d, r%d", i.Dst, i.Src)
	case opJeqImm:
		return fmt.Sprintf("jeq r%d, %d, %+d", i.Dst, i.Imm, i.Off)
	case opJneImm:
		return fmt.Sprintf("jne r%d, %d, %+d", i.Dst, i.Imm, i.Off)
	case opJsetImm:
		return fmt.Sprintf("jset r%d, %#x, %+d", i.Dst, i.Imm, i.Off)
	case opExit:
		return "exit"
	}
	return fmt.Sprintf("op %#x r%d r%d %+d %d", i.Code, i.Dst, i.Src, i.Off, i.Imm)
}

// deviceProgramString renders a program one instruction per line (for
// tests and error messages).
func deviceProgramString(prog []bpfInsn) string {
	var b strings.Builder
	for _, in := range prog {
		b.WriteString(in.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// deviceFilterProgram compiles rules into a cgroup device program. Rules
// are applied like devices.allow/devices.deny after "deny all": the last
// rule that matches decides, and nothing matching means deny. So the
// program tests the rules from last to first and returns at the first
// match; a rule that matches everything ends the program.
//
// An allow rule matches when every requested access bit is in the rule;
// a deny rule matches when any requested bit is in the rule (denying
// "w" also denies an "rw" open).
func deviceFilterProgram(rules []deviceRule) []bpfInsn {
	prog := []bpfInsn{
		{Code: opLdxMemW, Dst: regR2, Src: regR1, Off: 0}, // r2 = type
		{Code: opAnd32Imm, Dst: regR2, Imm: 0xffff},
		{Code: opLdxMemW, Dst: regR3, Src: regR1, Off: 0}, // r3 = access
		{Code: opRsh32Imm, Dst: regR3, Imm: 16},
		{Code: opLdxMemW, Dst: regR4, Src: regR1, Off: 4}, // r4 = major
		{Code: opLdxMemW, Dst: regR5, Src: regR1, Off: 8}, // r5 = minor
	}
	for i := len(rules) - 1; i >= 0; i-- {
		block, unconditional := deviceRuleBlock(rules[i])
		prog = append(prog, block...)
		if unconditional {
			return prog
		}
	}
	return append(prog,
		bpfInsn{Code: opMov32Imm, Dst: regR0, Imm: 0},
		bpfInsn{Code: opExit},
	)
}

// deviceRuleBlock is the code of one rule: compares that jump past the
// block when the rule does not match, then "return allow". It reports
// whether the block has no compare at all.
func deviceRuleBlock(d deviceRule) ([]bpfInsn, bool) {
	var block []bpfInsn
	var jumps []int // indexes of the compares whose Off must reach the block's end
	cond := func(in bpfInsn) {
		jumps = append(jumps, len(block))
		block = append(block, in)
	}
	switch d.typ {
	case 'b':
		cond(bpfInsn{Code: opJneImm, Dst: regR2, Imm: devcgDevBlock})
	case 'c':
		cond(bpfInsn{Code: opJneImm, Dst: regR2, Imm: devcgDevChar})
	}
	if acc := accessBits(d.access); acc != devcgAccMknod|devcgAccRead|devcgAccWrite {
		if d.allow {
			// Skip unless every requested bit is allowed.
			cond(bpfInsn{Code: opJsetImm, Dst: regR3, Imm: int32(^acc & 7)})
		} else {
			// Skip unless some requested bit is denied.
			block = append(block,
				bpfInsn{Code: opMov32Reg, Dst: regR1, Src: regR3},
				bpfInsn{Code: opAnd32Imm, Dst: regR1, Imm: int32(acc)},
			)
			cond(bpfInsn{Code: opJeqImm, Dst: regR1, Imm: 0})
		}
	}
	if d.major >= 0 {
		cond(bpfInsn{Code: opJneImm, Dst: regR4, Imm: int32(d.major)})
	}
	if d.minor >= 0 {
		cond(bpfInsn{Code: opJneImm, Dst: regR5, Imm: int32(d.minor)})
	}
	ret := int32(0)
	if d.allow {
		ret = 1
	}
	block = append(block, bpfInsn{Code: opMov32Imm, Dst: regR0, Imm: ret}, bpfInsn{Code: opExit})
	for _, j := range jumps {
		block[j].Off = int16(len(block) - (j + 1))
	}
	return block, len(jumps) == 0
}

func accessBits(access string) uint32 {
	var v uint32
	for _, c := range access {
		switch c {
		case 'r':
			v |= devcgAccRead
		case 'w':
			v |= devcgAccWrite
		case 'm':
			v |= devcgAccMknod
		}
	}
	return v
}

// encodeProgram lays the instructions out as the kernel's struct
// bpf_insn array in native byte order.
func encodeProgram(prog []bpfInsn) []byte {
	out := make([]byte, len(prog)*bpfInsnBytes)
	bigEndian := binary.NativeEndian.Uint16([]byte{0, 1}) == 1
	for i, in := range prog {
		b := out[i*bpfInsnBytes:]
		b[0] = in.Code
		// dst_reg:4, src_reg:4 — bitfield order follows the byte order.
		if bigEndian {
			b[1] = in.Dst<<4 | in.Src&0xf
		} else {
			b[1] = in.Src<<4 | in.Dst&0xf
		}
		binary.NativeEndian.PutUint16(b[2:], uint16(in.Off))
		binary.NativeEndian.PutUint32(b[4:], uint32(in.Imm))
	}
	return out
}
