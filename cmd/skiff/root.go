package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/internal/server"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "Skiff: batch Jobs with the Kubernetes API, in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newKubectlCommand(), newVersionCommand(), newTokenCommand(), newTenantCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the Skiff version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := server.Version
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "Skiff %s (Kubernetes API %s.%s, %s, %s)\n", v.GitVersion, v.Major, v.Minor, v.GoVersion, v.Platform)
			return err
		},
	}
}
