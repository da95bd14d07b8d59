package cgroups

import (
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBirthplaceFake: on a fake cgroupfs there is no cgroup2 directory to
// be born into (a clone into it would fail), and the v1 tasks files are
// the container's.
func TestBirthplaceFake(t *testing.T) {
	root := fakeV2Root(t, "berth/ctr1")
	m := newFake(t, "", "ctr1", root, "")
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	fd, tasks, err := m.Birthplace()
	if err != nil || fd != -1 || len(tasks) != 0 {
		t.Fatalf("fake v2: fd %d, tasks %v, %v", fd, tasks, err)
	}
}

// TestBirthplaceReal: on the host, a process is born into the unified
// cgroup through an fd on a cgroup2 directory and moves itself into each
// v1 hierarchy through its tasks file.
func TestBirthplaceReal(t *testing.T) {
	requireRoot(t)
	m, err := New(testCgroupPath(t), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Destroy(); err != nil {
			t.Error(err)
		}
		cleanupTestParent(t, m)
	})
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	fd, tasks, err := m.Birthplace()
	if err != nil {
		t.Fatal(err)
	}
	if dir := m.Paths()[""]; dir != "" {
		var st unix.Statfs_t
		if fd < 0 || unix.Fstatfs(fd, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Fatalf("unified %s: fd %d is not a cgroup2 directory", dir, fd)
		}
		unix.Close(fd)
	} else if fd != -1 {
		t.Fatalf("no unified hierarchy, yet fd %d", fd)
	}
	var want []string
	for k, dir := range m.Paths() {
		if k != "" {
			want = append(want, filepath.Join(dir, "tasks"))
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	slices.Sort(tasks)
	if !slices.Equal(tasks, want) {
		t.Fatalf("tasks %v, want %v", tasks, want)
	}
	for _, f := range tasks {
		if err := unix.Access(f, unix.W_OK); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
