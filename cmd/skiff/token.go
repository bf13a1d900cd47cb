package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/internal/auth"
)

// defaultKubeconfig is the admin kubeconfig `skiff serve` writes into its
// default data directory.
var defaultKubeconfig = filepath.Join(".skiff", "kubeconfig")

// adminClient loads a kubeconfig and returns a clientset for it.
func adminClient(path string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = "application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building client: %w", err)
	}
	return cs, nil
}

// tokenClient speaks the server's admin token API (auth.TokenAPIPath).
type tokenClient struct{ rc rest.Interface }

func newTokenClient(cs kubernetes.Interface) *tokenClient {
	return &tokenClient{rc: cs.CoreV1().RESTClient()}
}

func (c *tokenClient) create(ctx context.Context, req auth.CreateTokenRequest) (*auth.CreatedToken, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding token request: %w", err)
	}
	raw, err := c.rc.Post().AbsPath(auth.TokenAPIPath).SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("creating token: %w", err)
	}
	var out auth.CreatedToken
	if err := json.Unmarshal(raw, &out); err != nil || out.Token == "" {
		return nil, fmt.Errorf("creating token: unexpected answer %q", truncate(raw))
	}
	return &out, nil
}

func (c *tokenClient) list(ctx context.Context) ([]auth.TokenInfo, error) {
	raw, err := c.rc.Get().AbsPath(auth.TokenAPIPath).Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	var out auth.TokenList
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("listing tokens: unexpected answer %q: %w", truncate(raw), err)
	}
	return out.Items, nil
}

func (c *tokenClient) revoke(ctx context.Context, id string) error {
	if err := c.rc.Delete().AbsPath(auth.TokenAPIPath, id).Do(ctx).Error(); err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func newTokenCommand() *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{Use: "token", Short: "Issue, list and revoke Skiff API tokens (needs an admin kubeconfig)"}
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", defaultKubeconfig, "admin kubeconfig of the running server")
	cmd.AddCommand(newTokenCreateCommand(&kubeconfig), newTokenListCommand(&kubeconfig), newTokenRevokeCommand(&kubeconfig))
	return cmd
}

func newTokenCreateCommand(kubeconfig *string) *cobra.Command {
	var req auth.CreateTokenRequest
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --user NAME [--group G]... [--ttl 24h]",
		Short: "Create a token; it is printed once, alone on the last line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				return fmt.Errorf("--ttl must not be negative")
			}
			if ttl > 0 {
				req.TTL = ttl.String()
			}
			cs, err := adminClient(*kubeconfig)
			if err != nil {
				return err
			}
			created, err := newTokenClient(cs).create(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printCreated(cmd.OutOrStdout(), created)
		},
	}
	cmd.Flags().StringVar(&req.User, "user", "", "user name the token authenticates as (required)")
	cmd.Flags().StringSliceVar(&req.Groups, "group", nil, "group of the user (repeatable)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 24h (default: no expiry)")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

func printCreated(w io.Writer, t *auth.CreatedToken) error {
	expires := "never"
	if !t.Expires.IsZero() {
		expires = t.Expires.Format(time.RFC3339)
	}
	_, err := fmt.Fprintf(w, "token %s for user %q (groups: %s, expires: %s)\n%s\n", t.ID, t.User, strings.Join(t.Groups, ","), expires, t.Token)
	return err
}

func newTokenListCommand(kubeconfig *string) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List issued tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := adminClient(*kubeconfig)
			if err != nil {
				return err
			}
			items, err := newTokenClient(cs).list(cmd.Context())
			if err != nil {
				return err
			}
			return printTokens(cmd.OutOrStdout(), items, time.Now())
		},
	}
}

func printTokens(w io.Writer, items []auth.TokenInfo, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tGROUPS\tCREATED\tEXPIRES")
	for _, t := range items {
		expires := "never"
		if !t.Expires.IsZero() {
			expires = t.Expires.Format(time.RFC3339)
			if t.Expired(now) {
				expires += " (expired)"
			}
		}
		groups := strings.Join(t.Groups, ",")
		if groups == "" {
			groups = "<none>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, groups, t.Created.Format(time.RFC3339), expires)
	}
	return tw.Flush()
}

func newTokenRevokeCommand(kubeconfig *string) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token; it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := adminClient(*kubeconfig)
			if err != nil {
				return err
			}
			if err := newTokenClient(cs).revoke(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return err
		},
	}
}
