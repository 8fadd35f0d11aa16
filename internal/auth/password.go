package auth

import (
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// bcryptCost is above the library default (10): a console login is rare and
// worth ~100 ms of CPU, an offline guess should cost more.
const bcryptCost = 12

// HashPassword returns the configuration form of a console password.
func HashPassword(password string) (string, error) {
	if len(password) < 12 {
		return "", errors.New("password must be at least 12 characters")
	}
	if len(password) > 72 {
		return "", errors.New("password must be at most 72 bytes (bcrypt's limit)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

func checkPasswordHash(h string) error {
	if !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") && !strings.HasPrefix(h, "$2y$") {
		return errors.New("must be a bcrypt hash (see `gateway hash-password`)")
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return errors.New("is not a valid bcrypt hash")
	}
	return nil
}
