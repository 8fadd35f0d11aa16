//go:build !unix

package geoblock

import "os"

// fileID identifies a version of a file by size and modification time
// (no inode outside unix).
type fileID struct {
	size, mtime int64
}

func statID(path string) (fileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return fileID{size: st.Size(), mtime: st.ModTime().UnixNano()}, nil
}
