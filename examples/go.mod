module rrgo.dev/examples

go 1.24
