package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cadastre-ipam/cadastre/registry"
)

// poolCollector reports each pool's utilization when scraped, read from
// the store, so that every replica reports the same truth.
type poolCollector struct{ reg *registry.Registry }

var poolUtil = prometheus.NewDesc("cadastre_pool_utilization_ratio", "Assigned share of each pool.", []string{"pool", "region"}, nil)
var poolFree = prometheus.NewDesc("cadastre_pool_free_addresses", "Free addresses in each pool (float; IPv6 counts are huge).", []string{"pool", "region"}, nil)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolUtil
	ch <- poolFree
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pools, err := c.reg.Pools(ctx, "")
	if err != nil {
		return
	}
	for _, p := range pools {
		ch <- prometheus.MustNewConstMetric(poolUtil, prometheus.GaugeValue, p.Utilization, p.Prefix.String(), p.Region)
		ch <- prometheus.MustNewConstMetric(poolFree, prometheus.GaugeValue, p.Free.Float64(), p.Prefix.String(), p.Region)
	}
}
