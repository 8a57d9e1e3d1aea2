package metrics

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisHook returns a go-redis hook counting failed commands in
// dualgate_redis_errors_total: install it with AddHook on the serving
// store's client before the client is used concurrently. A missing key
// (redis.Nil) and a canceled context are not errors.
func (r *Registry) RedisHook() redis.Hook { return redisHook{r} }

type redisHook struct{ r *Registry }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if isRedisError(err) {
			h.r.redisError("dial")
		}
		return c, err
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if isRedisError(err) {
			h.r.redisError(commandName(cmd))
		}
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil {
			for _, c := range cmds {
				if isRedisError(c.Err()) {
					h.r.redisError(commandName(c))
				}
			}
		}
		return err
	}
}

func isRedisError(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, context.Canceled)
}

// commandName is the lower-case command name (a bounded label set).
func commandName(cmd redis.Cmder) string {
	if n := cmd.Name(); n != "" {
		return strings.ToLower(n)
	}
	return "unknown"
}
