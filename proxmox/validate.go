package proxmox

import (
	"fmt"
	"regexp"
)

// Arguments are checked before they reach a URL path, a form body or a
// command line, with Proxmox's own formats.

// MinVMID and MaxVMID bound a guest id (pve-vmid).
const (
	MinVMID = 100
	MaxVMID = 999999999
)

var (
	storageIDPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9._-]*[a-zA-Z0-9]$`)     // pve-storage-id
	snapnamePattern  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]{1,39}$`)            // pve-configid: 2 to 40
	diskKeyPattern   = regexp.MustCompile(`^(rootfs|mp\d{1,3})$`)                     // resize's disk
	diskSizePattern  = regexp.MustCompile(`^\+?\d+(\.\d+)?[KMGT]?$`)                  // resize's size
	configKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)                        // a config key
	volidPattern     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9._-]*[a-zA-Z0-9]:\S+$`) // storage:volume
)

func checkVMID(vmid int) error {
	if vmid < MinVMID || vmid > MaxVMID {
		return fmt.Errorf("vmid %d is out of range %d-%d", vmid, MinVMID, MaxVMID)
	}
	return nil
}

func checkStorageID(s string) error {
	if !storageIDPattern.MatchString(s) {
		return fmt.Errorf("storage id %q is not a valid Proxmox storage id", s)
	}
	return nil
}

func checkSnapname(s string) error {
	if !snapnamePattern.MatchString(s) || s == "current" || s == "vzdump" {
		return fmt.Errorf("snapshot name %q is not valid (a letter, then 1 to 39 letters, digits, '-' or '_'; not current or vzdump)", s)
	}
	return nil
}
