package seccomp

import (
	"errors"
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// retBadArch is what a syscall of an architecture that the filter does not
// list gets: SCMP_ACT_KILL, libseccomp's default.
const retBadArch = unix.SECCOMP_RET_KILL_THREAD

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// maxArgs is the number of syscall arguments seccomp_data carries.
const maxArgs = 6

// rule is one compiled rule of one syscall: ret when all conds hold.
type rule struct {
	ret   uint32
	conds []specs.LinuxSeccompArg
}

// sysRules are the rules of one syscall number, in the order they are tried:
// the conditional rules in profile order, then the unconditional one (if any).
type sysRules struct {
	conds       []rule
	uncond      *rule
	uncondIndex int
}

// program is a profile resolved for a set of architectures.
type program struct {
	defRet uint32
	enosys bool
	arches []*archInfo
	rules  map[*archInfo]map[uint32]*sysRules
	notify bool
}

// Compile builds the classic-BPF program for this host's native architecture
// and every architecture in s.Architectures that the host kernel can run (on
// amd64: SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32).
func Compile(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	p, err := resolve(s)
	if err != nil {
		return nil, err
	}
	return p.generate()
}

func resolve(s *specs.LinuxSeccomp) (*program, error) {
	if s == nil {
		return nil, errors.New("seccomp: no profile")
	}
	p := &program{rules: map[*archInfo]map[uint32]*sysRules{}}
	var err error
	if s.DefaultErrnoRet != nil && s.DefaultAction != specs.ActErrno && s.DefaultAction != specs.ActTrace {
		return nil, fmt.Errorf("seccomp: defaultErrnoRet is only valid with defaultAction %s or %s, not %q", specs.ActErrno, specs.ActTrace, s.DefaultAction)
	}
	if p.defRet, err = retValue(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return nil, fmt.Errorf("seccomp: defaultAction: %w", err)
	}
	p.notify = s.DefaultAction == specs.ActNotify
	p.enosys = !retPasses(p.defRet)
	if p.arches, err = selectArches(s.Architectures); err != nil {
		return nil, err
	}
	names := 0
	for _, sc := range s.Syscalls {
		names += len(sc.Names)
	}
	for _, a := range p.arches {
		p.rules[a] = make(map[uint32]*sysRules, names)
	}
	for i, sc := range s.Syscalls {
		ret, err := retValue(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d] %v: %w", i, sc.Names, err)
		}
		if err := checkArgs(sc.Args); err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d] %v: %w", i, sc.Names, err)
		}
		if len(sc.Names) == 0 {
			return nil, fmt.Errorf("seccomp: syscalls[%d] has no names", i)
		}
		if sc.Action == specs.ActNotify {
			p.notify = true
		}
		// Like libseccomp (and so runc), a rule whose action is the default
		// action changes nothing and is dropped.
		if ret == p.defRet {
			continue
		}
		for _, name := range sc.Names {
			for _, a := range p.arches {
				r := rule{ret: ret, conds: sc.Args}
				p.addMultiplexed(a, name, i, r)
				nr, ok := a.table.lookup(name)
				if !ok {
					continue // unknown on this arch: ignored, as runc does
				}
				p.add(a, uint32(nr), i, r)
			}
		}
	}
	return p, nil
}

func (p *program) add(a *archInfo, nr uint32, index int, r rule) {
	sr := p.rules[a][nr]
	if sr == nil {
		sr = &sysRules{}
		p.rules[a][nr] = sr
	}
	if len(r.conds) == 0 {
		// The first unconditional rule of a syscall decides; later ones are
		// shadowed by it.
		if sr.uncond == nil {
			sr.uncond, sr.uncondIndex = &r, index
		}
		return
	}
	sr.conds = append(sr.conds, r)
}

func checkArgs(args []specs.LinuxSeccompArg) error {
	for _, a := range args {
		if a.Index >= maxArgs {
			return fmt.Errorf("argument index %d out of range (0-%d)", a.Index, maxArgs-1)
		}
		switch a.Op {
		case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
			specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
		default:
			return fmt.Errorf("unknown seccomp operator %q", a.Op)
		}
	}
	return nil
}

// selectArches returns the native architecture and those of names that the
// host can run, native first, without duplicates.
func selectArches(names []specs.Arch) ([]*archInfo, error) {
	native, compat := nativeArch()
	if native == nil || len(native.table) == 0 {
		return nil, errors.New("seccomp: no syscall table for this host's architecture")
	}
	out := []*archInfo{native}
	for _, n := range names {
		if !isSpecArch(n) {
			return nil, fmt.Errorf("seccomp: unknown architecture %q", n)
		}
		for _, c := range compat {
			if c.name == n && len(c.table) > 0 && !containsArch(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func containsArch(as []*archInfo, a *archInfo) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// section is the code of one audit architecture; x86_64 and x32 share one.
type section struct {
	audit  uint32
	arches []*archInfo
	rets   map[uint32]label
	bodies []func()
}

func (sec *section) retLabel(b *builder, ret uint32) label {
	l, ok := sec.rets[ret]
	if !ok {
		l = b.newLabel()
		sec.rets[ret] = l
	}
	return l
}

// generate lays the program out as
//
//	load arch; one JEQ per audit arch; ret KILL
//	per audit arch: load nr; split x86_64/x32 by __X32_SYSCALL_BIT;
//	  a binary search over ranges of syscall numbers with the same outcome,
//	  the argument checks of syscalls that have conditional rules,
//	  the return instructions the section jumps to.
func (p *program) generate() ([]unix.SockFilter, error) {
	var secs []*section
	for _, a := range p.arches {
		var sec *section
		for _, s := range secs {
			if s.audit == a.audit {
				sec = s
			}
		}
		if sec == nil {
			sec = &section{audit: a.audit, rets: map[uint32]label{}}
			secs = append(secs, sec)
		}
		sec.arches = append(sec.arches, a)
	}

	b := &builder{}
	b.loadAbs(offArch)
	starts := make([]label, len(secs))
	for i, sec := range secs {
		starts[i] = b.newLabel()
		next := b.newLabel()
		b.jump(unix.BPF_JEQ, sec.audit, starts[i], next)
		b.mark(next)
	}
	b.ret(retBadArch)

	for i, sec := range secs {
		b.mark(starts[i])
		b.loadAbs(offNr)
		p.emitSection(b, sec)
	}
	return b.assemble()
}

func (p *program) emitSection(b *builder, sec *section) {
	var low, high *archInfo // below and above __X32_SYSCALL_BIT
	for _, a := range sec.arches {
		if a.nrBase == 0 {
			low = a
		} else {
			high = a
		}
	}
	if high != nil || low.nrLimit != 1<<32 {
		lowL, highL := b.newLabel(), b.newLabel()
		if low == nil {
			lowL = sec.retLabel(b, retBadArch)
		}
		if high == nil {
			highL = sec.retLabel(b, retBadArch)
		}
		b.jump(unix.BPF_JGE, x32SyscallBit, highL, lowL)
		if low != nil {
			b.mark(lowL)
			p.emitSearch(b, sec, low)
		}
		if high != nil {
			b.mark(highL)
			p.emitSearch(b, sec, high)
		}
	} else {
		p.emitSearch(b, sec, low)
	}
	for _, body := range sec.bodies {
		body()
	}
	rets := make([]uint32, 0, len(sec.rets))
	for r := range sec.rets {
		rets = append(rets, r)
	}
	sort.Slice(rets, func(i, j int) bool { return rets[i] < rets[j] })
	for _, r := range rets {
		b.mark(sec.rets[r])
		b.ret(r)
	}
}

// nrRange is the syscall numbers from start up to the next range's start,
// which all go to target.
type nrRange struct {
	start  uint32
	target label
}

func (p *program) emitSearch(b *builder, sec *section, a *archInfo) {
	def := sec.retLabel(b, p.defRet)
	gap := def
	if p.enosys {
		gap = sec.retLabel(b, retENOSYS)
	}
	rules := p.rules[a]
	var ranges []nrRange
	add := func(start uint32, target label) {
		if n := len(ranges); n > 0 && ranges[n-1].target == target {
			return
		}
		ranges = append(ranges, nrRange{start, target})
	}
	cur := uint64(a.nrBase)
	for _, nr := range a.numbers() {
		if uint64(nr) < a.nrBase || uint64(nr) >= a.nrLimit {
			continue
		}
		if uint64(nr) > cur {
			add(uint32(cur), gap)
		}
		add(nr, p.target(b, sec, a, rules[nr], def))
		cur = uint64(nr) + 1
	}
	if cur < a.nrLimit {
		add(uint32(cur), gap)
	}
	emitRanges(b, ranges)
}

// emitRanges emits a binary search over ranges, whose first range starts at
// the lowest number that can reach this code.
func emitRanges(b *builder, ranges []nrRange) {
	if len(ranges) == 1 {
		b.ja(ranges[0].target)
		return
	}
	mid := len(ranges) / 2
	left, right := ranges[:mid], ranges[mid:]
	lt, rt := rangesEntry(b, left), rangesEntry(b, right)
	b.jump(unix.BPF_JGE, right[0].start, rt, lt)
	if len(left) > 1 {
		b.mark(lt)
		emitRanges(b, left)
	}
	if len(right) > 1 {
		b.mark(rt)
		emitRanges(b, right)
	}
}

func rangesEntry(b *builder, rs []nrRange) label {
	if len(rs) == 1 {
		return rs[0].target
	}
	return b.newLabel()
}

// target returns where the search sends a syscall: straight to a return
// instruction when its outcome needs no argument checks, else to a body
// that the section emits after its search.
func (p *program) target(b *builder, sec *section, a *archInfo, sr *sysRules, def label) label {
	if sr == nil {
		return def
	}
	fallback := def
	if sr.uncond != nil {
		fallback = sec.retLabel(b, sr.uncond.ret)
	}
	var conds []rule
	for _, r := range sr.conds {
		if sr.uncond == nil || r.ret != sr.uncond.ret {
			conds = append(conds, r)
		}
	}
	if len(conds) == 0 {
		return fallback
	}
	body := b.newLabel()
	sec.bodies = append(sec.bodies, func() {
		b.mark(body)
		for _, r := range conds {
			next := b.newLabel()
			for j, c := range r.conds {
				match := sec.retLabel(b, r.ret)
				if j < len(r.conds)-1 {
					match = b.newLabel()
				}
				emitCompare(b, a.is64, c, match, next)
				if j < len(r.conds)-1 {
					b.mark(match)
				}
			}
			b.mark(next)
		}
		b.ja(fallback)
	})
	return body
}

// emitCompare jumps to match when argument c.Index compares to c's value as
// c.Op says, else to nomatch. On 64-bit ABIs both 32-bit halves of the
// argument are compared, high half first, as libseccomp does; on 32-bit ABIs
// only the low half exists.
func emitCompare(b *builder, is64 bool, c specs.LinuxSeccompArg, match, nomatch label) {
	lo := uint32(offArgs + 8*c.Index) // little-endian: low word first
	hi := lo + 4
	vlo, vhi := uint32(c.Value), uint32(c.Value>>32)
	wlo, whi := uint32(c.ValueTwo), uint32(c.ValueTwo>>32)

	// cmpLow compares the low half (A holds it) and decides.
	cmpLow := func() {
		switch c.Op {
		case specs.OpEqualTo:
			b.jump(unix.BPF_JEQ, vlo, match, nomatch)
		case specs.OpNotEqual:
			b.jump(unix.BPF_JEQ, vlo, nomatch, match)
		case specs.OpGreaterThan:
			b.jump(unix.BPF_JGT, vlo, match, nomatch)
		case specs.OpGreaterEqual:
			b.jump(unix.BPF_JGE, vlo, match, nomatch)
		case specs.OpLessThan:
			b.jump(unix.BPF_JGE, vlo, nomatch, match)
		case specs.OpLessEqual:
			b.jump(unix.BPF_JGT, vlo, nomatch, match)
		case specs.OpMaskedEqual:
			b.andK(vlo)
			b.jump(unix.BPF_JEQ, wlo, match, nomatch)
		}
	}
	if !is64 {
		b.loadAbs(lo)
		cmpLow()
		return
	}
	// The high halves decide unless they are equal; then the low halves do.
	b.loadAbs(hi)
	cont := b.newLabel()
	switch c.Op {
	case specs.OpEqualTo:
		b.jump(unix.BPF_JEQ, vhi, cont, nomatch)
	case specs.OpNotEqual:
		b.jump(unix.BPF_JEQ, vhi, cont, match)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		eq := b.newLabel()
		b.jump(unix.BPF_JGT, vhi, match, eq)
		b.mark(eq)
		b.jump(unix.BPF_JEQ, vhi, cont, nomatch)
	case specs.OpLessThan, specs.OpLessEqual:
		eq := b.newLabel()
		b.jump(unix.BPF_JGT, vhi, nomatch, eq)
		b.mark(eq)
		b.jump(unix.BPF_JEQ, vhi, cont, match)
	case specs.OpMaskedEqual:
		b.andK(vhi)
		b.jump(unix.BPF_JEQ, whi, cont, nomatch)
	}
	b.mark(cont)
	b.loadAbs(lo)
	cmpLow()
}
