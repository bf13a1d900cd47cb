// Package tokens is upstream's service account tokens controller for
// secret-based tokens: it fills every Secret of type
// kubernetes.io/service-account-token with a token for the service account
// its annotation names, the cluster's CA and the namespace, and deletes
// such Secrets once their service account is gone; a deleted one leaves its
// account's secrets list. (Since v1.24 nothing
// creates these Secrets by itself; users still do, for long-lived tokens.)
//
// Usage:
//
//	factory := informers.NewSharedInformerFactory(client, 0)
//	c, err := tokens.NewController(tokens.Config{
//		Client: client, Informers: factory, Issuer: issuer, RootCA: caPEM, Logger: logger,
//	})
//	if err != nil { return err }
//	go c.Run(ctx, 1)
package tokens

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/internal/controller/workers"
)

// Issuer signs secret-based tokens.
type Issuer interface {
	IssueLegacy(sa *corev1.ServiceAccount, secretName string) (string, error)
}

// Config configures the controller.
type Config struct {
	// Client updates and deletes Secrets and reads ServiceAccounts. Required.
	Client kubernetes.Interface
	// Informers provides the Secret and ServiceAccount informers. Required;
	// Run starts the informers requested here.
	Informers informers.SharedInformerFactory
	// Issuer signs the tokens. Required.
	Issuer Issuer
	// RootCA is written as ca.crt; empty leaves it out.
	RootCA []byte
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger
}

// Controller keeps secret-based tokens.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	secrets  corelisters.SecretLister
	accounts corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	// queue holds the keys (namespace/name) of Secrets to check; refs the
	// deleted ones to remove from their account's secrets list.
	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	refs  workqueue.TypedRateLimitingInterface[secretRef]
}

// secretRef is a deleted token Secret and the account it named.
type secretRef struct {
	Namespace, Secret, Account, UID string
}

// NewController builds the controller and registers its informer handlers.
func NewController(cfg Config) (*Controller, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("tokens controller: Client is required")
	case cfg.Informers == nil:
		return nil, errors.New("tokens controller: Informers is required")
	case cfg.Issuer == nil:
		return nil, errors.New("tokens controller: Issuer is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	secretInformer := cfg.Informers.Core().V1().Secrets()
	saInformer := cfg.Informers.Core().V1().ServiceAccounts()
	c := &Controller{
		cfg: cfg, log: cfg.Logger.With("component", "tokens-controller"),
		secrets: secretInformer.Lister(), accounts: saInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName]()),
		refs:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[secretRef]()),
	}
	secretReg, err := secretInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueSecret,
		UpdateFunc: func(_, obj any) { c.enqueueSecret(obj) },
		DeleteFunc: c.secretDeleted,
	})
	if err != nil {
		return nil, fmt.Errorf("watching secrets: %w", err)
	}
	saReg, err := saInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.serviceAccountDeleted,
	})
	if err != nil {
		return nil, fmt.Errorf("watching service accounts: %w", err)
	}
	c.synced = []cache.InformerSynced{secretReg.HasSynced, saReg.HasSynced}
	return c, nil
}

func (c *Controller) enqueueSecret(obj any) {
	if s, ok := obj.(*corev1.Secret); ok && s.Type == corev1.SecretTypeServiceAccountToken {
		c.queue.Add(cache.MetaObjectToName(s))
	}
}

func (c *Controller) secretDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if s, ok := obj.(*corev1.Secret); ok && s.Type == corev1.SecretTypeServiceAccountToken {
		c.refs.Add(secretRef{Namespace: s.Namespace, Secret: s.Name,
			Account: s.Annotations[corev1.ServiceAccountNameKey], UID: s.Annotations[corev1.ServiceAccountUIDKey]})
	}
}

// serviceAccountDeleted queues the account's token Secrets, which go with it.
func (c *Controller) serviceAccountDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return
	}
	secrets, err := c.secrets.Secrets(sa.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range secrets {
		if s.Type == corev1.SecretTypeServiceAccountToken && s.Annotations[corev1.ServiceAccountNameKey] == sa.Name {
			c.queue.Add(cache.MetaObjectToName(s))
		}
	}
}

// Run starts the requested informers, waits for their caches and runs
// workers until ctx ends.
func (c *Controller) Run(ctx context.Context, n int) error {
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		errs[0] = workers.Loop[cache.ObjectName]{
			Name: "tokens controller", Log: c.log, Start: c.cfg.Informers.Start, Synced: c.synced,
			Queue: c.queue, Sync: c.sync, KeyName: "secret",
		}.Run(ctx, n)
	})
	wg.Go(func() {
		errs[1] = workers.Loop[secretRef]{
			Name: "tokens controller (secret references)", Log: c.log, Start: c.cfg.Informers.Start, Synced: c.synced,
			Queue: c.refs, Sync: c.removeReference, KeyName: "secret",
		}.Run(ctx, 1)
	})
	wg.Wait()
	return errors.Join(errs...)
}

// removeReference is upstream's removeSecretReference: a deleted token
// Secret leaves the secrets list of the account it was for.
func (c *Controller) removeReference(ctx context.Context, r secretRef) error {
	names := func(ref corev1.ObjectReference) bool { return ref.Name == r.Secret }
	sa, err := c.accounts.ServiceAccounts(r.Namespace).Get(r.Account)
	if apierrors.IsNotFound(err) || (err == nil && (r.UID != "" && string(sa.UID) != r.UID || !slices.ContainsFunc(sa.Secrets, names))) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading service account %s/%s: %w", r.Namespace, r.Account, err)
	}
	accounts := c.cfg.Client.CoreV1().ServiceAccounts(r.Namespace)
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		live, err := accounts.Get(ctx, r.Account, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.UID != "" && string(live.UID) != r.UID || !slices.ContainsFunc(live.Secrets, names) {
			return nil
		}
		live.Secrets = slices.DeleteFunc(live.Secrets, names)
		_, err = accounts.Update(ctx, live, metav1.UpdateOptions{})
		return err
	})
}

// sync is upstream's syncSecret: delete a token Secret whose service
// account is gone (or was recreated under its name), else fill what it
// lacks.
func (c *Controller) sync(ctx context.Context, key cache.ObjectName) error {
	secret, err := c.secrets.Secrets(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading secret %s: %w", key, err)
	}
	if secret.Type != corev1.SecretTypeServiceAccountToken || secret.DeletionTimestamp != nil {
		return nil
	}
	sa, err := c.serviceAccount(ctx, secret)
	if err != nil {
		return err
	}
	if sa == nil {
		err := c.cfg.Client.CoreV1().Secrets(key.Namespace).Delete(ctx, key.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &secret.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("deleting token secret %s of a deleted service account: %w", key, err)
		}
		c.log.Debug("deleted the token secret of a deleted service account", "secret", key)
		return nil
	}
	if complete(secret, sa, c.cfg.RootCA) {
		return nil
	}
	// Fill the live copy: the cache may be behind a token written already.
	live, err := c.cfg.Client.CoreV1().Secrets(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading secret %s: %w", key, err)
	}
	if complete(live, sa, c.cfg.RootCA) {
		return nil
	}
	if live.Data == nil {
		live.Data = map[string][]byte{}
	}
	if len(c.cfg.RootCA) > 0 {
		live.Data[corev1.ServiceAccountRootCAKey] = c.cfg.RootCA
	}
	live.Data[corev1.ServiceAccountNamespaceKey] = []byte(live.Namespace)
	if len(live.Data[corev1.ServiceAccountTokenKey]) == 0 {
		token, err := c.cfg.Issuer.IssueLegacy(sa, live.Name)
		if err != nil {
			return fmt.Errorf("generating token for %s: %w", key, err)
		}
		live.Data[corev1.ServiceAccountTokenKey] = []byte(token)
	}
	if live.Annotations == nil {
		live.Annotations = map[string]string{}
	}
	live.Annotations[corev1.ServiceAccountNameKey] = sa.Name
	live.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	if _, err := c.cfg.Client.CoreV1().Secrets(key.Namespace).Update(ctx, live, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("writing token secret %s: %w", key, err)
	}
	return nil
}

// serviceAccount is the account a token Secret names, nil if it does not
// exist or is not the one with the UID the Secret records.
func (c *Controller) serviceAccount(ctx context.Context, s *corev1.Secret) (*corev1.ServiceAccount, error) {
	name, uid := s.Annotations[corev1.ServiceAccountNameKey], s.Annotations[corev1.ServiceAccountUIDKey]
	sa, err := c.accounts.ServiceAccounts(s.Namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// Upstream's fetchOnCacheMiss: the account may be newer than the cache.
		sa, err = c.cfg.Client.CoreV1().ServiceAccounts(s.Namespace).Get(ctx, name, metav1.GetOptions{})
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading service account %s/%s: %w", s.Namespace, name, err)
	case uid != "" && string(sa.UID) != uid:
		return nil, nil
	}
	return sa, nil
}

func complete(s *corev1.Secret, sa *corev1.ServiceAccount, rootCA []byte) bool {
	return len(s.Data[corev1.ServiceAccountTokenKey]) > 0 &&
		(len(rootCA) == 0 || bytes.Equal(s.Data[corev1.ServiceAccountRootCAKey], rootCA)) &&
		string(s.Data[corev1.ServiceAccountNamespaceKey]) == s.Namespace &&
		s.Annotations[corev1.ServiceAccountUIDKey] == string(sa.UID)
}
