package trust

// What an operator names on the command line: a signature to check as
// ssh-keygen -Y verify does, and a bundle in a file or on stdin.

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// RawVerify is one check as 'ssh-keygen -Y verify -f AllowedSigners -I
// Principal -n Namespace -s Signature [-r Revoked]' makes it.
type RawVerify struct {
	AllowedSigners, Principal, Namespace, Signature string
	Revoked                                         string // "" for none
}

// Verify reads the files (regular files, bounded) and checks the
// signature over message at the time at, as ssh-keygen does.
func (v RawVerify) Verify(message io.Reader, at time.Time) (*Signer, error) {
	sigBytes, err := ReadRegular(v.Signature, MaxSignatureSize)
	if err != nil {
		return nil, err
	}
	sig, err := ParseSignature(sigBytes)
	if err != nil {
		return nil, err
	}
	allowed, err := ReadRegular(v.AllowedSigners, MaxAllowedSignersSize)
	if err != nil {
		return nil, fmt.Errorf("read allowed signers: %w", err)
	}
	var revoked *RevokedKeys
	if v.Revoked != "" {
		data, err := ReadRegular(v.Revoked, MaxAllowedSignersSize)
		if err != nil {
			return nil, fmt.Errorf("read revocation list: %w", err)
		}
		if revoked, err = ParseRevokedKeys(data, v.Revoked); err != nil {
			return nil, err
		}
	}
	return OpenSSHVerify(allowed, v.AllowedSigners, revoked, v.Principal, v.Namespace, sig, message, at)
}

// CouldNotVerify is what ssh-keygen -Y verify prints on stdout for a
// signature that does not verify.
const CouldNotVerify = "Could not verify signature."

// Check verifies message at the time at (Verify) and says so on r.Out as
// ssh-keygen -Y verify does: "Good "NS" signature for P with KIND key FP",
// or CouldNotVerify with the reason through r.Error. ok reports a good
// signature.
func (v RawVerify) Check(message io.Reader, at time.Time, r Report) (ok bool) {
	signer, err := v.Verify(message, at)
	if err != nil {
		fmt.Fprintln(r.Out, CouldNotVerify)
		r.Error(err.Error())
		return false
	}
	fmt.Fprintf(r.Out, "Good %q signature for %s with %s key %s\n", v.Namespace, signer.Principal, KeyKind(signer.Key), signer.Fingerprint)
	return true
}

// ReadBundleInput reads a bundle from path, or from stdin for "-", up to
// MaxBundleSize; a path must be a regular file. It returns the data and
// the name errors should use.
func ReadBundleInput(path string, stdin io.Reader) ([]byte, string, error) {
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, MaxBundleSize+1))
		if err != nil {
			return nil, "-", fmt.Errorf("read the bundle from stdin: %w", err)
		}
		if len(data) > MaxBundleSize {
			return nil, "-", &BundleError{Name: "-", Msg: fmt.Sprintf("more than the %d bytes a bundle may have", MaxBundleSize)}
		}
		return data, "(stdin)", nil
	}
	data, err := ReadRegular(path, MaxBundleSize)
	if errors.Is(err, ErrTooLarge) {
		return nil, path, &BundleError{Name: path, Msg: fmt.Sprintf("more than the %d bytes a bundle may have", MaxBundleSize)}
	}
	return data, path, err
}
