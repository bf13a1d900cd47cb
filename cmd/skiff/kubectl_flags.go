package main

import (
	"fmt"
	"os"
	"runtime"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientversion "k8s.io/client-go/pkg/version"
	"k8s.io/client-go/rest"
)

func kubectlConfigFlags() *genericclioptions.ConfigFlags {
	return genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0).
		WithWrapConfigFn(func(c *rest.Config) *rest.Config {
			if c.UserAgent == "" {
				c.UserAgent = kubectlUserAgent()
			}
			return c
		})
}

// kubectlUserAgent is the User-Agent of upstream's kubectl binary, which
// client-go derives from the executable's name: "skiff" here. Servers read
// it as the default field manager and in their audit logs.
func kubectlUserAgent() string {
	v := clientversion.Get()
	return fmt.Sprintf("kubectl/%s (%s/%s) kubernetes/%s", v.GitVersion, runtime.GOOS, runtime.GOARCH, v.GitCommit)
}

func ioStreams() genericiooptions.IOStreams {
	return genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}
