// Package kafkaembed runs an in-process Kafka broker (franz-go's kfake) that
// speaks the real Kafka protocol over TCP, so that `policypush demo` and the
// integration tests need no external Kafka. Other processes (kcat, kafka-go,
// a second policypush) can produce to it and consume from it through
// [Broker.Addr].
//
// It is a development and test broker: data lives in memory only and is lost
// on [Broker.Close], and there is no replication. [StartSecure] turns on TLS
// and SASL, so that tests can prove the service speaks to a secured cluster.
package kafkaembed

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// MaxMessageBytes is the largest record batch the broker accepts in one
// produce request (Kafka's message.max.bytes). It is well above the 1 MiB
// Kafka default so that oversize profile events can still be published, read
// and moved to the dead-letter queue.
const MaxMessageBytes = 8 << 20

// minSessionTimeout is the smallest consumer-group session timeout the broker
// accepts. Kafka's default is 6s; a lower floor lets tests use short sessions.
const minSessionTimeout = 500 * time.Millisecond

// Broker is a running single-node kfake cluster.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start runs a kfake cluster with one broker listening on addr (host:port,
// for example 127.0.0.1:9092; port 0 picks any free port). It seeds each
// topic with the given number of partitions; topics that clients ask for
// later are created on first use with the same number of partitions, as a
// Kafka broker with auto.create.topics.enable does.
//
// The broker advertises the address it is bound to. When addr names no host
// or an unspecified one (":9092", "0.0.0.0:9092") it listens on every
// interface but advertises 127.0.0.1, so remote clients cannot follow the
// metadata it returns.
func Start(addr string, partitions int, topics ...string) (*Broker, error) {
	return StartSecure(addr, partitions, Security{}, topics...)
}

// Security turns on TLS, SASL or both on an embedded broker.
type Security struct {
	TLS   *tls.Config // the server's configuration; nil is plaintext
	Users []User      // SASL users; none is no SASL
}

// User is a SASL user: Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
// Users are superusers, since the broker enforces no ACLs for them.
type User struct {
	Mechanism, Name, Password string
}

// StartSecure is [Start] with TLS and SASL as sec says.
func StartSecure(addr string, partitions int, sec Security, topics ...string) (*Broker, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("kafkaembed: partitions must be at least 1, got %d", partitions)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("kafkaembed: listen address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kafkaembed: listen: %w", err)
	}
	bound := ln.Addr().(*net.TCPAddr)
	advertised := net.JoinHostPort(host, strconv.Itoa(bound.Port))
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		advertised = net.JoinHostPort("127.0.0.1", strconv.Itoa(bound.Port))
	}
	listenFn := func(string, string) (net.Listener, error) {
		return advertisedListener{Listener: ln, addr: advertisedAddr(advertised)}, nil
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listenFn),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(partitions),
		kfake.GroupMinSessionTimeout(minSessionTimeout),
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes": strconv.Itoa(MaxMessageBytes),
		}),
	}
	if sec.TLS != nil {
		opts = append(opts, kfake.TLS(sec.TLS))
	}
	if len(sec.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range sec.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(partitions), topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("kafkaembed: start cluster: %w", err)
	}
	return &Broker{cluster: c, addr: advertised}, nil
}

// Addr returns the address the broker is bound to and advertises, as
// host:port. Clients bootstrap from it.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and closes its listener. Everything it stored is
// lost. Close is safe to call more than once.
func (b *Broker) Close() { b.cluster.Close() }

// advertisedListener reports addr as its address: kfake puts a listener's
// address into metadata responses, and an unspecified IP there would send
// clients nowhere.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

// advertisedAddr is a host:port that is already resolved to a string.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
