package etcddir

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ReadView reads the cluster called name once (no registration, no watch)
// and returns its View, with an error for each record that does not parse
// (those are left out of the view). For `qstate cluster status`.
func ReadView(ctx context.Context, endpoints []string, name string, timeout time.Duration) (*View, []error, error) {
	if len(endpoints) == 0 {
		return nil, nil, fmt.Errorf("%w: no etcd endpoints", ErrConfig)
	}
	if name == "" {
		name = DefaultCluster
	}
	if err := checkName("cluster", name); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: timeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v: %w", ErrUnavailable, endpoints, err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := cli.Get(ctx, Prefix(name), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read cluster %q at %v: %w", ErrUnavailable, name, endpoints, err)
	}
	members, claims := map[string]Member{}, map[string]claimRecord{}
	var bad []error
	for _, kv := range resp.Kvs {
		r, err := parseRecord(name, kv.Key, kv.Value, kv.CreateRevision)
		switch {
		case errors.Is(err, errNotOurs):
		case err != nil:
			bad = append(bad, err)
		case r.member != nil:
			members[r.member.Name] = *r.member
		case r.claim != nil:
			claims[string(kv.Key)] = *r.claim
		}
	}
	return buildView(resp.Header.Revision, members, claims), bad, nil
}
