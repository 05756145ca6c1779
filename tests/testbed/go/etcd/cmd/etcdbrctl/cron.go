package main

// A small standard 5-field cron parser (minute hour day-of-month month day-of-week,
// with *, lists, ranges and steps, and @hourly/@daily/@weekly/@every <duration>),
// enough for druid's --schedule and --defragmentation-schedule values.
// Upstream uses robfig/cron ParseStandard (pkg/server/backuprestoreserver.go).

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type cronSchedule struct {
	every                        time.Duration
	min, hour, dom, month, dow   map[int]bool
	domRestricted, dowRestricted bool
}

func parseCronField(field string, lo, hi int) (map[int]bool, bool, error) {
	set := map[int]bool{}
	restricted := field != "*" && !strings.HasPrefix(field, "*/")
	for _, part := range strings.Split(field, ",") {
		step := 1
		if i := strings.Index(part, "/"); i >= 0 {
			s, err := strconv.Atoi(part[i+1:])
			if err != nil || s <= 0 {
				return nil, false, fmt.Errorf("bad step in %q", part)
			}
			step = s
			part = part[:i]
		}
		a, b := lo, hi
		if part != "*" {
			if i := strings.Index(part, "-"); i >= 0 {
				x, err1 := strconv.Atoi(part[:i])
				y, err2 := strconv.Atoi(part[i+1:])
				if err1 != nil || err2 != nil {
					return nil, false, fmt.Errorf("bad range %q", part)
				}
				a, b = x, y
			} else {
				x, err := strconv.Atoi(part)
				if err != nil {
					return nil, false, fmt.Errorf("bad value %q", part)
				}
				a, b = x, x
				if step > 1 {
					b = hi
				}
			}
		}
		if a < lo || b > hi || a > b {
			return nil, false, fmt.Errorf("value out of range [%d,%d] in %q", lo, hi, field)
		}
		for v := a; v <= b; v += step {
			set[v] = true
		}
	}
	return set, restricted, nil
}

func parseCron(spec string) (*cronSchedule, error) {
	spec = strings.TrimSpace(spec)
	switch spec {
	case "@yearly", "@annually":
		spec = "0 0 1 1 *"
	case "@monthly":
		spec = "0 0 1 * *"
	case "@weekly":
		spec = "0 0 * * 0"
	case "@daily", "@midnight":
		spec = "0 0 * * *"
	case "@hourly":
		spec = "0 * * * *"
	}
	if strings.HasPrefix(spec, "@every ") {
		d, err := time.ParseDuration(strings.TrimPrefix(spec, "@every "))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("bad @every duration in %q", spec)
		}
		return &cronSchedule{every: d}, nil
	}
	f := strings.Fields(spec)
	if len(f) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %q", len(f), spec)
	}
	c := &cronSchedule{}
	var err error
	if c.min, _, err = parseCronField(f[0], 0, 59); err != nil {
		return nil, err
	}
	if c.hour, _, err = parseCronField(f[1], 0, 23); err != nil {
		return nil, err
	}
	if c.dom, c.domRestricted, err = parseCronField(f[2], 1, 31); err != nil {
		return nil, err
	}
	if c.month, _, err = parseCronField(f[3], 1, 12); err != nil {
		return nil, err
	}
	if c.dow, c.dowRestricted, err = parseCronField(strings.ReplaceAll(f[4], "7", "0"), 0, 6); err != nil {
		return nil, err
	}
	return c, nil
}

// next returns the first firing strictly after t (UTC), or t+1 year if none.
func (c *cronSchedule) next(t time.Time) time.Time {
	if c.every > 0 {
		return t.Add(c.every)
	}
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	for i := 0; i < 366*24*60; i++ {
		dayOK := c.dom[t.Day()] && c.dow[int(t.Weekday())]
		if c.domRestricted && c.dowRestricted {
			dayOK = c.dom[t.Day()] || c.dow[int(t.Weekday())]
		}
		if c.month[int(t.Month())] && dayOK && c.hour[t.Hour()] && c.min[t.Minute()] {
			return t
		}
		t = t.Add(time.Minute)
	}
	return t
}

// interval is the gap between the next two firings (the full-snapshot window).
func (c *cronSchedule) interval(now time.Time) time.Duration {
	n := c.next(now)
	return c.next(n).Sub(n)
}
