package plan

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/felhom/felhom-converge/proxmox"
)

// archive is one backup in a guest's backup group.
type archive struct {
	volid     string
	ctime     int64
	protected bool
	mark      string // "keep", "remove", "protected"
}

// archivesOf lists guest vmid's backups on storage.
func archivesOf(live *Live, storage string, vmid int) []archive {
	var out []archive
	for _, it := range live.Archives {
		// Proxmox prunes each guest type's group on its own (ct/ and vm/).
		if storageOf(it.VolID) == storage && int(it.VMID) == vmid && (it.Subtype == "" || it.Subtype == "lxc") {
			out = append(out, archiveOf(it))
		}
	}
	return out
}

func archiveOf(it proxmox.StorageItem) archive {
	return archive{volid: it.VolID, ctime: int64(it.CTime), protected: bool(it.Protected)}
}

// pruneRemoves returns, sorted, the archives that Proxmox's retention
// (a prune-backups string such as "keep-last=2,keep-daily=7") deletes once
// a new backup taken at now joins them, following pve-storage's
// prune_mark_backup_group: protected archives are never removed, each
// keep option in turn keeps the newest archive of each period not already
// covered, and everything left unmarked is removed.
func pruneRemoves(retention string, group []archive, now time.Time) []string {
	keep := map[string]int{}
	for _, part := range strings.Split(retention, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err == nil {
			keep[k] = n
		}
	}
	if keep["keep-all"] == 1 || len(keep) == 0 {
		return []string{}
	}
	list := append([]archive{{volid: "", ctime: now.Unix()}}, group...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].ctime > list[j].ctime })
	for i := range list {
		if list[i].protected {
			list[i].mark = "protected"
		}
	}
	periods := []struct {
		opt string
		id  func(time.Time) string
	}{
		{"keep-last", nil},
		{"keep-hourly", func(t time.Time) string { return t.Format("2006/01/02/15") }},
		{"keep-daily", func(t time.Time) string { return t.Format("2006/01/02") }},
		{"keep-weekly", func(t time.Time) string { y, w := t.ISOWeek(); return strconv.Itoa(y) + "/" + strconv.Itoa(w) }},
		{"keep-monthly", func(t time.Time) string { return t.Format("2006/01") }},
		{"keep-yearly", func(t time.Time) string { return t.Format("2006") }},
	}
	for _, p := range periods {
		n := keep[p.opt]
		if n <= 0 {
			continue
		}
		id := func(a archive) string {
			if p.id == nil {
				return strconv.FormatInt(a.ctime, 10) // as pve-storage: the backup time alone
			}
			return p.id(time.Unix(a.ctime, 0).Local())
		}
		already := map[string]bool{}
		for _, a := range list {
			if a.mark == "keep" {
				already[id(a)] = true
			}
		}
		newly := map[string]bool{}
		for i := range list {
			a := &list[i]
			if a.mark != "" || already[id(*a)] {
				continue
			}
			if !newly[id(*a)] {
				if len(newly) >= n {
					break
				}
				newly[id(*a)] = true
				a.mark = "keep"
			} else {
				a.mark = "remove"
			}
		}
	}
	removed := []string{}
	for _, a := range list {
		if a.volid != "" && (a.mark == "" || a.mark == "remove") {
			removed = append(removed, a.volid)
		}
	}
	sort.Strings(removed)
	return removed
}
