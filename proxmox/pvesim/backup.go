package pvesim

// vzdump (pve-manager API2/VZDump.pm, PVE/VZDump.pm) with Proxmox's
// retention pruning, and removal of storage content.

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

func hVzdump(r *request) (any, error) {
	p := r.params
	// The schema: notes-template and protected require storage.
	for _, k := range []string{"notes-template", "protected"} {
		if _, ok := p[k]; ok && p["storage"] == "" {
			return nil, r.s.st.requiresError("storage", k)
		}
	}
	// assert_param_permission_common: limiting a backup's bandwidth or I/O
	// priority is the node admin's (Sys.Modify on "/").
	for _, k := range []string{"bwlimit", "ionice"} {
		if _, ok := p[k]; ok {
			if err := r.check("/", "Sys.Modify"); err != nil {
				return nil, err
			}
		}
	}
	// verify_vzdump_parameters.
	if p["all"] == "1" && p["vmid"] != "" {
		return nil, param1Error("all", "option conflicts with option 'vmid'")
	}
	if tmpl := p["notes-template"]; tmpl != "" {
		if err := checkNotesTemplate(tmpl); err != nil {
			return nil, param1Error("notes-template", "%v", err)
		}
	}
	if p["vmid"] == "" && p["all"] != "1" {
		return nil, param1Error("vmid", "property is missing")
	}
	cmdline := vzdumpCommandLine(p) // the parameters as given
	sid := p["storage"]
	if sid == "" {
		sid = "local"
		p["storage"] = sid
	}
	if r.s.st.storage(sid) == nil {
		return nil, failf("storage '%s' does not exist", sid)
	}
	if err := r.check(storagePath(sid), "Datastore.AllocateSpace"); err != nil {
		return nil, err
	}
	if p["prune-backups"] != "" {
		if err := r.check(storagePath(sid), "Datastore.Allocate"); err != nil {
			return nil, err
		}
	}
	var ids []string
	if p["all"] == "1" {
		for _, id := range r.s.st.guestIDs() {
			ids = append(ids, strconv.Itoa(id))
		}
	} else {
		for _, f := range splitList(p["vmid"]) {
			n, _ := strconv.Atoi(f)
			ids = append(ids, strconv.Itoa(n))
		}
	}
	params := copyConf(p)
	params["vmids"] = strings.Join(ids, ",")
	params["cmdline"] = cmdline
	// Which guests the caller may back up is decided now and checked in
	// the worker, as vzdump does.
	var allowed []string
	for _, id := range ids {
		n, _ := strconv.Atoi(id)
		if r.has(vmPath(n), "VM.Backup") {
			allowed = append(allowed, id)
		}
	}
	params["allowed"] = strings.Join(allowed, ",")
	// get_max_protected_backups: the storage's setting, else unlimited for
	// a caller with Datastore.Allocate on it and 5 for anyone else.
	params["max-protected"] = "5"
	if r.has(storagePath(sid), "Datastore.Allocate") {
		params["max-protected"] = "-1"
	}
	taskID := ""
	if len(ids) == 1 {
		taskID = ids[0]
	}
	return r.s.startTaskLocked(r, "vzdump", taskID, "vzdump", params)
}

var (
	notesEscape   = regexp.MustCompile(`\\(.)`)
	notesVariable = regexp.MustCompile(`\{\{([^\s{}]+)\}\}`)
)

// checkNotesTemplate is VZDump.pm's verify_notes_template: one line, the
// escapes \n and \\, the variables cluster, guestname, node and vmid.
func checkNotesTemplate(tmpl string) error {
	if strings.Contains(tmpl, "\n") {
		return fmt.Errorf("contains a line feed")
	}
	var problems []string
	for _, m := range notesEscape.FindAllStringSubmatchIndex(tmpl, -1) {
		if c := tmpl[m[2]:m[3]]; c != "n" && c != "\\" {
			problems = append(problems, fmt.Sprintf("escape sequence '\\%s' at char %d", c, m[0]))
		}
	}
	for _, m := range notesVariable.FindAllStringSubmatchIndex(tmpl, -1) {
		if v := tmpl[m[2]:m[3]]; v != "cluster" && v != "guestname" && v != "node" && v != "vmid" {
			problems = append(problems, fmt.Sprintf("variable '%s' at char %d", v, m[1]-len(v)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("found unknown: %s", strings.Join(problems, ", "))
	}
	return nil
}

// vzdumpCommandLine is PVE::VZDump::Common command_line: "vzdump", the
// guests, then every parameter given (Perl's hash order; here sorted)
// shell-quoted.
func vzdumpCommandLine(p map[string]string) string {
	cmd := "vzdump"
	if v := p["vmid"]; v != "" {
		cmd += " " + strings.Join(splitList(v), " ")
	}
	for _, k := range sortedKeys(p) {
		if k == "vmid" || p[k] == "" {
			continue
		}
		cmd += " --" + k + " " + shellQuote(p[k])
	}
	return cmd
}

var shellSafe = regexp.MustCompile(`^[\w!%+,\-./:=@^]+$`)

// shellQuote is String::ShellQuote shell_quote for one word.
func shellQuote(v string) string {
	if shellSafe.MatchString(v) {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

func vzdumpIDs(t *task) []int {
	var out []int
	for _, f := range splitList(t.Params["vmids"]) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// prelockVzdump is PVE::VZDump->new, before the node-wide lock: the
// target storage is activated and must take backups.
func prelockVzdump(s *Sim, t *task) error {
	sid := t.Params["storage"]
	st := s.st.storage(sid)
	var errs []string
	if st != nil {
		if err := s.st.activate(st); err != nil {
			errs = append(errs, fmt.Sprintf("could not activate storage '%s': %v", sid, err))
		}
	}
	if st == nil || !st.hasContent("backup") {
		errs = append(errs, fmt.Sprintf("could not get storage information for '%s': can't use storage '%s' for backups - wrong content type", sid, sid))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func beginVzdump(s *Sim, t *task) error {
	allowed := splitList(t.Params["allowed"])
	for _, id := range vzdumpIDs(t) {
		if !contains(allowed, strconv.Itoa(id)) && t.Params["all"] != "1" {
			return permError(vmPath(id), "VM.Backup")
		}
	}
	var locked []string
	for _, id := range vzdumpIDs(t) {
		if g := s.st.Guests[id]; g != nil && g.Conf["lock"] == "" && contains(allowed, strconv.Itoa(id)) {
			g.setLock("backup")
			locked = append(locked, strconv.Itoa(id))
		}
	}
	t.Params["locked"] = strings.Join(locked, ",")
	t.logf("INFO: starting new backup job: %s", t.Params["cmdline"])
	return nil
}

func abortVzdump(s *Sim, t *task) {
	for _, f := range splitList(t.Params["locked"]) {
		n, _ := strconv.Atoi(f)
		if g := s.st.Guests[n]; g != nil && g.Conf["lock"] == "backup" {
			g.unlock()
		}
	}
}

func finishVzdump(s *Sim, t *task) (int, error) {
	p := t.Params
	st := s.st.storage(p["storage"])
	locked := splitList(p["locked"])
	defer abortVzdump(s, t)
	// Archive names and log times are the host's local time.
	start := time.Unix(t.StartTime, 0).Local()
	ret := retention(st, p["prune-backups"])
	rules, _ := parsePropString(ret, "", pruneKeys)
	remove := p["remove"] != "0"
	limit := 0
	if rules["keep-all"] == "1" {
		// Avoid every removal when keep-all is set.
		remove = false
	} else {
		for _, n := range rules {
			c, _ := strconv.Atoi(n)
			limit += c
		}
	}
	failed := 0
	for _, vmid := range vzdumpIDs(t) {
		g := s.st.Guests[vmid]
		if g == nil {
			t.logf("ERROR: Backup of VM %d failed - Configuration file 'nodes/%s/lxc/%d.conf' does not exist", vmid, s.st.Node, vmid)
			failed++
			continue
		}
		if !contains(locked, strconv.Itoa(vmid)) {
			if !contains(splitList(p["allowed"]), strconv.Itoa(vmid)) {
				t.logf("ERROR: Backup of VM %d failed - Permission check failed (/vms/%d, VM.Backup)", vmid, vmid)
			} else {
				t.logf("ERROR: Backup of VM %d failed - CT is locked (%s)", vmid, g.Conf["lock"])
			}
			failed++
			continue
		}
		if err := checkBackupLimit(st, vmid, limit, remove, p); err != nil {
			t.logf("ERROR: Backup of VM %d failed - %s", vmid, errText(err))
			failed++
			continue
		}
		if err := s.backupOne(t, st, g, start, remove, ret); err != nil {
			t.logf("ERROR: Backup of VM %d failed - %s", vmid, errText(err))
			t.logf("INFO: Failed at %s", start.Format("2006-01-02 15:04:05"))
			failed++
		}
	}
	if failed > 0 {
		t.logf("INFO: Backup job finished with errors")
		return 0, fmt.Errorf("job errors")
	}
	t.logf("INFO: Backup job finished successfully")
	return 0, nil
}

// checkBackupLimit is vzdump's retention guard: a backup that will not
// prune (remove=0) under a finite retention, or that is to be protected,
// must not go beyond what the retention keeps. limit is the sum of the
// keep values (0: keep-all, no limit).
func checkBackupLimit(st *storage, vmid, limit int, remove bool, p map[string]string) error {
	protected := p["protected"] == "1"
	if !(limit > 0 && !remove) && !protected {
		return nil
	}
	count, protectedCount := 0, 0
	for _, v := range st.Volumes {
		if v.Content != "backup" || v.VMID != vmid || (v.Subtype != "" && v.Subtype != "lxc") {
			continue
		}
		if v.Protected {
			protectedCount++
		} else {
			count++
		}
	}
	if protected {
		max, _ := strconv.Atoi(p["max-protected"])
		if max > -1 && protectedCount >= max {
			return failf("The number of protected backups per guest is limited to %d on storage '%s'", max, st.ID)
		}
		return nil
	}
	if count >= limit {
		return failf("There is a max backup limit of %d enforced by the target storage or the vzdump parameters. Either increase the limit or delete old backups.", limit)
	}
	return nil
}

// retention is the prune-backups setting that applies: the given one,
// else the storage's, else keep-all.
func retention(st *storage, given string) string {
	switch {
	case given != "":
		return given
	case st.PruneBackups != "":
		return st.PruneBackups
	}
	return "keep-all=1"
}

// pruneMarks marks each archive "keep", "protected" or "remove".
func pruneMarks(archives []*volume, retention string) map[string]string {
	rules, _ := parsePropString(retention, "", pruneKeys)
	marks := map[string]string{}
	for _, v := range archives {
		if v.Protected {
			marks[v.VolID] = "protected"
		}
	}
	positive := false
	for k, n := range rules {
		if c, _ := strconv.Atoi(n); k != "keep-all" && c > 0 {
			positive = true
		}
	}
	if rules["keep-all"] == "1" || !positive {
		for _, v := range archives {
			if marks[v.VolID] == "" {
				marks[v.VolID] = "keep"
			}
		}
		return marks
	}
	list := append([]*volume(nil), archives...)
	sort.Slice(list, func(i, j int) bool { return list[i].CTime > list[j].CTime })
	for _, rule := range []struct {
		key string
		id  func(time.Time) string
	}{
		{"keep-last", func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }},
		{"keep-hourly", func(t time.Time) string { return t.Format("2006-01-02/15") }},
		{"keep-daily", func(t time.Time) string { return t.Format("2006-01-02") }},
		{"keep-weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d/%d", y, w) }},
		{"keep-monthly", func(t time.Time) string { return t.Format("2006-01") }},
		{"keep-yearly", func(t time.Time) string { return t.Format("2006") }},
	} {
		count, _ := strconv.Atoi(rules[rule.key])
		if count <= 0 {
			continue
		}
		already, newly := map[string]bool{}, map[string]bool{}
		for _, v := range list {
			if marks[v.VolID] == "keep" {
				already[rule.id(time.Unix(v.CTime, 0).Local())] = true
			}
		}
		for _, v := range list {
			id := rule.id(time.Unix(v.CTime, 0).Local())
			if marks[v.VolID] != "" || already[id] {
				continue
			}
			if !newly[id] {
				if len(newly) >= count {
					break
				}
				newly[id] = true
				marks[v.VolID] = "keep"
			} else {
				marks[v.VolID] = "remove"
			}
		}
	}
	for _, v := range list {
		if marks[v.VolID] == "" {
			marks[v.VolID] = "remove"
		}
	}
	return marks
}

// pruneGroups applies the retention that applies to each guest's archives
// on st (vmid 0: every guest's), as PVE::Storage::prune_backups does, and
// returns the archives and every archive's mark.
func pruneGroups(st *storage, given string, vmid int) ([]*volume, map[string]string) {
	ret := retention(st, given)
	groups := map[int][]*volume{}
	for _, v := range st.Volumes {
		if v.Content == "backup" && v.Subtype == "lxc" && (vmid == 0 || v.VMID == vmid) {
			groups[v.VMID] = append(groups[v.VMID], v)
		}
	}
	var all []*volume
	marks := map[string]string{}
	for _, g := range groups {
		for k, m := range pruneMarks(g, ret) {
			marks[k] = m
		}
		all = append(all, g...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].VolID < all[j].VolID })
	return all, marks
}
