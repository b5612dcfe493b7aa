// fipsinit runs in Go's FIPS 140 mode (the //go:debug line): before main,
// the init of crypto/internal/fips140/check hashes the FIPS module's own
// machine code and panics if it differs, then the module's self-tests run.
// A replay that patched that code to find a preemption point (rrgo's search
// stub) would make the check fail, so rrgo leaves it alone until the check
// is done.
//
// The program starts copies of itself (`fipsinit child`) while a goroutine
// of its own wakes every 100 µs: recorded with a short woken-thread bound
// (RRGO_WAKE_MS=0), the children are preempted again and again during their
// start-up, the check included. Each child prints digests and a signature
// check computed with the module (deterministic: fixed keys and inputs).
//go:debug fips140=on

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		child()
		return
	}
	children := 3
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			children = n
		}
	}
	var stop atomic.Bool
	go func() {
		for !stop.Load() {
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for i := 0; i < children; i++ {
		out, err := exec.Command(os.Args[0], "child").CombinedOutput()
		fmt.Printf("child %d (err %v):\n%s", i, err, out)
	}
	stop.Store(true)
}

func child() {
	fmt.Println("fips140 enabled:", fips140.Enabled())
	sum := sha256.Sum256([]byte("rrgo"))
	fmt.Printf("sha256: %x\n", sum)
	mac := hmac.New(sha512.New, []byte("key"))
	mac.Write([]byte("message"))
	fmt.Printf("hmac-sha512: %x\n", mac.Sum(nil)[:16])
	// A fixed key: the signature itself is random, its check is not.
	curve := elliptic.P256()
	d := new(big.Int).SetBytes(sum[:])
	x, y := curve.ScalarBaseMult(d.Bytes())
	priv := &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: curve, X: x, Y: y}, D: d}
	n := 0
	for i := 0; i < 5; i++ {
		h := sha256.Sum256([]byte{byte(i)})
		sig, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
		if err == nil && ecdsa.VerifyASN1(&priv.PublicKey, h[:], sig) {
			n++
		}
	}
	fmt.Println("verified signatures:", n)
}
