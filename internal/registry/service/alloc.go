package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"

	"github.com/skiff-sh/skiff/internal/storage"
)

// Claim key roots. They sit outside every resource's key root, so the watch
// cache ignores them.
const (
	ipClaimRoot   = "/ranges/serviceips/"
	portClaimRoot = "/ranges/servicenodeports/"
)

// Allocation errors, with upstream's texts (ipallocator, portallocator).
var (
	errIPAllocated   = errors.New("provided IP is already allocated")
	errPortAllocated = errors.New("provided port is already allocated")
	errFull          = errors.New("range is full")
)

// randomAttempts is how many random free-looking addresses are tried
// before the allocator lists the claims and scans for a free one.
const randomAttempts = 16

// PortRange is an inclusive range of node ports.
type PortRange struct{ Base, Size int }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Base, r.Base+r.Size-1) }

func (r PortRange) contains(p int) bool { return p >= r.Base && p < r.Base+r.Size }

// AllocatorConfig configures an Allocator.
type AllocatorConfig struct {
	// Storage holds the claims and the Services. Required.
	Storage storage.Interface
	// ServiceCIDR is the IPv4 range cluster IPs come from. Its first usable
	// address is the kubernetes Service's. Default 10.96.0.0/12.
	ServiceCIDR netip.Prefix
	// NodePorts is the node port range. Default 30000-32767 (size 2768).
	NodePorts PortRange
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Allocator hands out cluster IPs and node ports. Each address is an etcd
// key created only if absent, holding the owner Service's uid: uniqueness
// comes from etcd, not from memory, so it holds across goroutines and
// server replicas. It is safe for concurrent use.
type Allocator struct {
	st     storage.Interface
	cidr   netip.Prefix
	first  netip.Addr // network address + 1
	size   int        // usable addresses (network and broadcast excluded)
	static int        // the lower band kept for explicit requests
	ports  PortRange
	// errPortRange is upstream's ErrNotInRange text for this range.
	errPortRange error
	logger       *slog.Logger
	repair       repairState
}

// NewAllocator validates cfg and fills its defaults.
func NewAllocator(cfg AllocatorConfig) (*Allocator, error) {
	if cfg.Storage == nil {
		return nil, errors.New("service allocator: Storage is required")
	}
	if !cfg.ServiceCIDR.IsValid() {
		cfg.ServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")
	}
	cidr := cfg.ServiceCIDR.Masked()
	if !cidr.Addr().Is4() || cidr.Bits() > 30 || cidr.Bits() < 8 {
		return nil, fmt.Errorf("service allocator: ServiceCIDR %s must be an IPv4 range between /8 and /30", cfg.ServiceCIDR)
	}
	if cfg.NodePorts == (PortRange{}) {
		cfg.NodePorts = PortRange{Base: 30000, Size: 2768}
	}
	if cfg.NodePorts.Base < 1 || cfg.NodePorts.Size < 1 || cfg.NodePorts.Base+cfg.NodePorts.Size > 65536 {
		return nil, fmt.Errorf("service allocator: invalid node port range %s", cfg.NodePorts)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	size := 1<<(32-cidr.Bits()) - 2
	// Upstream reserves min(max(16, size/16), 256) addresses at the bottom
	// for explicit requests; dynamic allocation prefers the rest.
	static := min(max(16, size/16), 256)
	if static >= size {
		static = 0
	}
	return &Allocator{
		st: cfg.Storage, cidr: cidr, first: cidr.Addr().Next(), size: size, static: static,
		ports: cfg.NodePorts, errPortRange: fmt.Errorf("provided port is not in the valid range. The range of valid ports is %s", cfg.NodePorts),
		logger: cfg.Logger.With("component", "service-allocator"),
		repair: repairState{seen: map[string]int64{}},
	}, nil
}

// KubernetesServiceIP is the first address of the range, which the
// kubernetes Service in default holds (10.96.0.1 by default).
func (a *Allocator) KubernetesServiceIP() netip.Addr { return a.first }

// CIDR is the service range.
func (a *Allocator) CIDR() netip.Prefix { return a.cidr }

// NodePorts is the node port range.
func (a *Allocator) NodePorts() PortRange { return a.ports }

func (a *Allocator) ipAt(offset int) netip.Addr {
	b := a.first.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(offset)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// inRange reports whether ip is a usable address of the range.
func (a *Allocator) inRange(ip netip.Addr) bool {
	if !ip.Is4() || !a.cidr.Contains(ip) {
		return false
	}
	return ip.Compare(a.first) >= 0 && ip.Compare(a.ipAt(a.size-1)) <= 0
}

func ipKey(ip string) string { return ipClaimRoot + ip }
func portKey(p int) string   { return portClaimRoot + strconv.Itoa(p) }

// claim creates key for owner. Claiming a key the owner already holds
// succeeds (retries of the same write); a key someone else holds returns
// taken.
func (a *Allocator) claim(ctx context.Context, key, owner string, taken error) error {
	_, err := a.st.Create(ctx, key, []byte(owner))
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("claiming %s: %w", key, err)
	}
	kv, err := a.st.Get(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return a.claim(ctx, key, owner, taken) // released meanwhile
	case err != nil:
		return fmt.Errorf("reading claim %s: %w", key, err)
	case string(kv.Value) == owner:
		return nil
	}
	return taken
}

// release deletes key if owner still holds it. Releasing what is gone or
// held by another owner is a no-op.
func (a *Allocator) release(ctx context.Context, key, owner string) error {
	kv, err := a.st.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading claim %s: %w", key, err)
	}
	if string(kv.Value) != owner {
		return nil
	}
	if _, _, err := a.st.Delete(ctx, key, kv.Revision); err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("releasing %s: %w", key, err)
	}
	return nil
}

// allocateIP claims a free address for owner: random tries in the upper
// band first, then a scan of the claims (upper band, then lower band).
func (a *Allocator) allocateIP(ctx context.Context, owner string) (netip.Addr, error) {
	dynamic := a.size - a.static
	for range randomAttempts {
		ip := a.ipAt(a.static + rand.IntN(dynamic))
		err := a.claim(ctx, ipKey(ip.String()), owner, errIPAllocated)
		if err == nil {
			return ip, nil
		}
		if !errors.Is(err, errIPAllocated) {
			return netip.Addr{}, err
		}
	}
	claimed, err := a.claimedSet(ctx, ipClaimRoot)
	if err != nil {
		return netip.Addr{}, err
	}
	start := rand.IntN(dynamic)
	for i := range a.size {
		off := a.static + (start+i)%dynamic
		if i >= dynamic {
			off = i - dynamic // the lower band, last
		}
		ip := a.ipAt(off)
		if claimed[ip.String()] {
			continue
		}
		err := a.claim(ctx, ipKey(ip.String()), owner, errIPAllocated)
		if !errors.Is(err, errIPAllocated) {
			return ip, err
		}
	}
	return netip.Addr{}, errFull
}

// allocatePort claims a free node port for owner.
func (a *Allocator) allocatePort(ctx context.Context, owner string) (int, error) {
	for range randomAttempts {
		p := a.ports.Base + rand.IntN(a.ports.Size)
		err := a.claim(ctx, portKey(p), owner, errPortAllocated)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errPortAllocated) {
			return 0, err
		}
	}
	claimed, err := a.claimedSet(ctx, portClaimRoot)
	if err != nil {
		return 0, err
	}
	start := rand.IntN(a.ports.Size)
	for i := range a.ports.Size {
		p := a.ports.Base + (start+i)%a.ports.Size
		if claimed[strconv.Itoa(p)] {
			continue
		}
		err := a.claim(ctx, portKey(p), owner, errPortAllocated)
		if !errors.Is(err, errPortAllocated) {
			return p, err
		}
	}
	return 0, errFull
}

// claimedSet lists the claim keys under root, by their last segment.
func (a *Allocator) claimedSet(ctx context.Context, root string) (map[string]bool, error) {
	kvs, _, _, err := a.st.List(ctx, root, "", 0, 0)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	out := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		out[kv.Key[len(root):]] = true
	}
	return out, nil
}
