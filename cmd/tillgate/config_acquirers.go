package main

import (
	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node"
)

// fileAcquirer is one entry of "acquirers".
type fileAcquirer struct {
	Name         string     `json:"name"`
	Addr         string     `json:"addr"`
	Conns        int        `json:"conns"`
	Timeout      duration   `json:"timeout"`
	EchoInterval duration   `json:"echo_interval"`
	MaxInFlight  int        `json:"max_in_flight"`
	BINs         []fileBINs `json:"bins"`
	TLS          *fileTLS   `json:"tls"`
}

// fileTLS is an acquirer's "tls": present, the link is TLS only.
type fileTLS struct {
	CAFile     string `json:"ca_file"`     // the acquirer's CA; empty: the system's roots
	CertFile   string `json:"cert_file"`   // our client certificate, if the acquirer requires one
	KeyFile    string `json:"key_file"`    // its key
	ServerName string `json:"server_name"` // the name on the acquirer's certificate; empty: addr's host
}

func (t *fileTLS) client() *tlsconf.Client {
	return &tlsconf.Client{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName}
}

type fileBINs struct {
	Low   string `json:"low"`
	High  string `json:"high"`
	Limit int64  `json:"limit"` // stand_in.bin_limits only
}

type fileSAF struct {
	MinBackoff duration `json:"min_backoff"`
	MaxBackoff duration `json:"max_backoff"`
	SkipAfter  int      `json:"skip_after"`
	Poll       duration `json:"poll"`
}

// fileStandIn is "stand_in": amounts in minor units.
type fileStandIn struct {
	Enabled        bool              `json:"enabled"`
	FloorLimit     int64             `json:"floor_limit"`
	MerchantLimits map[string]int64  `json:"merchant_limits"`
	MCCLimits      map[string]int64  `json:"mcc_limits"`
	MerchantMCC    map[string]string `json:"merchant_mcc"`
	BINLimits      []fileBINs        `json:"bin_limits"`
	CardCount      int64             `json:"card_count_per_day"`
	CardAmount     int64             `json:"card_amount_per_day"`
	OfflineCap     int64             `json:"offline_cap"`
	AcquirerCaps   map[string]int64  `json:"acquirer_caps"`
	NegativeHashes []string          `json:"negative_pan_hashes"`
	NegativeBINs   []fileBINs        `json:"negative_bins"`
}

// applyAcquirers sets the acquirers, SAF and stand-in parts of cfg from f.
func (f *fileConfig) applyAcquirers(cfg *node.Config) {
	if f.Acquirers != nil {
		cfg.Acquirers = nil
		for _, a := range f.Acquirers {
			ac := node.AcquirerConfig{Config: acquirer.DefaultConfig(), MaxInFlight: a.MaxInFlight}
			ac.Name, ac.Addr = a.Name, a.Addr
			setInt(&ac.Conns, a.Conns)
			setDur(&ac.Timeout, a.Timeout)
			setDur(&ac.EchoInterval, a.EchoInterval)
			if a.TLS != nil {
				ac.TLS = a.TLS.client()
			}
			for _, r := range a.BINs {
				ac.BINs = append(ac.BINs, node.BINRange{Low: r.Low, High: r.High})
			}
			cfg.Acquirers = append(cfg.Acquirers, ac)
		}
	}
	setStr(&cfg.DefaultAcquirer, f.DefaultAcquirer)
	setDur(&cfg.SAF.MinBackoff, f.SAF.MinBackoff)
	setDur(&cfg.SAF.MaxBackoff, f.SAF.MaxBackoff)
	setInt(&cfg.SAF.SkipAfter, f.SAF.SkipAfter)
	setDur(&cfg.SAF.Poll, f.SAF.Poll)
	if f.StandIn != nil {
		cfg.StandIn = f.StandIn.policy()
	}
}

func (s *fileStandIn) policy() node.StandInPolicy {
	p := node.StandInPolicy{
		Enabled: s.Enabled, FloorLimit: s.FloorLimit, MerchantLimits: s.MerchantLimits, MCCLimits: s.MCCLimits,
		MerchantMCC: s.MerchantMCC, CardCount: s.CardCount, CardAmount: s.CardAmount, OfflineCap: s.OfflineCap,
		AcquirerCaps: s.AcquirerCaps, NegativeHashes: s.NegativeHashes,
	}
	for _, r := range s.BINLimits {
		p.BINLimits = append(p.BINLimits, node.BINLimit{Low: r.Low, High: r.High, Limit: r.Limit})
	}
	for _, r := range s.NegativeBINs {
		p.NegativeBINs = append(p.NegativeBINs, node.BINRange{Low: r.Low, High: r.High})
	}
	return p
}
