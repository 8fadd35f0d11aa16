//go:build unix

package geoblock

import (
	"os"
	"syscall"
)

// fileID identifies a version of a file: a rename over it changes the inode,
// an in-place rewrite changes size or modification time.
type fileID struct {
	size, mtime int64
	ino, dev    uint64
}

func statID(path string) (fileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	id := fileID{size: st.Size(), mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.ino, id.dev = uint64(sys.Ino), uint64(sys.Dev) //nolint:unconvert // types differ across unix systems
	}
	return id, nil
}
