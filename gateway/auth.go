package gateway

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/xdg-go/scram"
)

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// Users maps user names to SCRAM-SHA-256 stored credentials. The file
// format is one `name:verifier` per line, where verifier is PostgreSQL's
// own rolpassword format (SCRAM-SHA-256$iter:salt$StoredKey:ServerKey), so
// verifiers can be copied from pg_authid and back. '#' starts a comment.
type Users struct {
	creds map[string]scram.StoredCredentials
}

// LoadUsers reads a users file.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	return ParseUsers(f, path)
}

// ParseUsers reads users file content; name is used in error messages.
func ParseUsers(r io.Reader, name string) (*Users, error) {
	u := &Users{creds: map[string]scram.StoredCredentials{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, verifier, ok := strings.Cut(text, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: expected `name:SCRAM-SHA-256$...` (make one with `dualgate passwd NAME`)", name, line)
		}
		cred, err := ParseVerifier(verifier)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %w", name, line, user, err)
		}
		if _, dup := u.creds[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q appears twice", name, line, user)
		}
		u.creds[user] = cred
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return u, nil
}

// Lookup returns a user's stored credentials.
func (u *Users) Lookup(user string) (scram.StoredCredentials, bool) {
	if u == nil {
		return scram.StoredCredentials{}, false
	}
	c, ok := u.creds[user]
	return c, ok
}

// ParseVerifier parses PostgreSQL's SCRAM-SHA-256 verifier format.
func ParseVerifier(v string) (scram.StoredCredentials, error) {
	var c scram.StoredCredentials
	rest, ok := strings.CutPrefix(v, "SCRAM-SHA-256$")
	if !ok {
		return c, errors.New("verifier must start with SCRAM-SHA-256$")
	}
	iterSalt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return c, errors.New("verifier must look like SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey")
	}
	iters, salt, ok := strings.Cut(iterSalt, ":")
	stored, server, ok2 := strings.Cut(keys, ":")
	if !ok || !ok2 {
		return c, errors.New("verifier must look like SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey")
	}
	n, err := strconv.Atoi(iters)
	if err != nil || n < 1 {
		return c, fmt.Errorf("bad iteration count %q", iters)
	}
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		return c, fmt.Errorf("salt is not base64: %w", err)
	}
	c.StoredKey, err = base64.StdEncoding.DecodeString(stored)
	if err != nil || len(c.StoredKey) != sha256.Size {
		return c, errors.New("StoredKey must be 32 bytes of base64")
	}
	c.ServerKey, err = base64.StdEncoding.DecodeString(server)
	if err != nil || len(c.ServerKey) != sha256.Size {
		return c, errors.New("ServerKey must be 32 bytes of base64")
	}
	c.Salt, c.Iters = string(rawSalt), n
	return c, nil
}

// MakeVerifier derives a SCRAM-SHA-256 verifier for a password with a fresh
// random salt, in PostgreSQL's format.
func MakeVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	client, err := scram.SHA256.NewClient("", password, "")
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	c := client.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: scramIterations})
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", c.Iters,
		base64.StdEncoding.EncodeToString(salt),
		base64.StdEncoding.EncodeToString(c.StoredKey),
		base64.StdEncoding.EncodeToString(c.ServerKey)), nil
}

// fakeCredentials are answered for unknown users: the salt is derived from
// the server secret and the name, so it is stable across attempts and a
// client cannot tell a missing user from a wrong password. The keys are
// random, so no password matches.
func fakeCredentials(secret []byte, user string) scram.StoredCredentials {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(user))
	salt := m.Sum(nil)[:16]
	keys := make([]byte, 64)
	_, _ = rand.Read(keys)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: scramIterations},
		StoredKey:  keys[:32],
		ServerKey:  keys[32:],
	}
}

// checkCleartext verifies a cleartext password against stored credentials.
func checkCleartext(c scram.StoredCredentials, password string) bool {
	client, err := scram.SHA256.NewClient("", password, "")
	if err != nil {
		return false
	}
	got := client.GetStoredCredentials(c.KeyFactors)
	return subtle.ConstantTimeCompare(got.StoredKey, c.StoredKey) == 1
}
