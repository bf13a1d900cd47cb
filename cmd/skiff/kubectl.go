package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

// newKubectlCommand embeds the real kubectl (k8s.io/kubectl, same
// Kubernetes minor as the API types). Without --kubeconfig and KUBECONFIG
// it talks to the Skiff of the default data directory (.skiff/kubeconfig).
func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl [kubectl arguments]",
		Short:              "Run kubectl against Skiff",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := setKubectlVersion(); err != nil {
				return fmt.Errorf("setting kubectl's version: %w", err)
			}
			if os.Getenv("KUBECONFIG") == "" && !hasKubeconfigFlag(args) {
				if abs, err := filepath.Abs(filepath.Join(".skiff", "kubeconfig")); err == nil {
					_ = os.Setenv("KUBECONFIG", abs)
				}
			}
			k := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
				PluginHandler: kubectlcmd.NewDefaultPluginHandler([]string{"kubectl"}),
				Arguments:     append([]string{"kubectl"}, args...),
				ConfigFlags:   kubectlConfigFlags(),
				IOStreams:     ioStreams(),
			})
			k.SetArgs(args)
			if err := cli.RunNoErrOutput(k); err != nil {
				util.CheckErr(err)
			}
			return nil
		},
	}
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--kubeconfig" || len(a) > 13 && a[:13] == "--kubeconfig=" {
			return true
		}
	}
	return false
}
