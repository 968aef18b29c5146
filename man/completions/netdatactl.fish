# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_netdatactl_global_optspecs
    string join \n c/config= json h/help V/version
end

function __fish_netdatactl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_netdatactl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_netdatactl_using_subcommand
    set -l cmd (__fish_netdatactl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c netdatactl -n "__fish_netdatactl_needs_command" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_needs_command" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_needs_command" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_needs_command" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_needs_command" -f -a "duplicate" -d 'Clone a parent\'s cache directory (local or from a running parent) with a retention preflight'
complete -c netdatactl -n "__fish_netdatactl_needs_command" -f -a "keys" -d 'List, add, enable and disable the stream API keys in stream.conf'
complete -c netdatactl -n "__fish_netdatactl_needs_command" -f -a "quarantine" -d 'Block children (but not sibling parents) while a restored parent catches up'
complete -c netdatactl -n "__fish_netdatactl_needs_command" -f -a "status" -d 'Show every node against every parent: live, replicating, offline, missing'
complete -c netdatactl -n "__fish_netdatactl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l from -d 'Source: a cache directory, or a running parent as http://HOST:PORT' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l to -d 'Destination cache directory of the new parent' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l key -d 'Key of the source parent\'s snapshot endpoint (http sources): its netdata.conf `[cluster] snapshot key`' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l from-config -d 'netdata.conf of a local source, for its retention limits' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l dry-run -d 'Print the preflight and the copy plan; change nothing'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l fix-config -d 'Raise the destination\'s retention settings (in --config) to fit the source\'s data'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l checksum -d 'Compare hashes of files whose size and mtime match too (slower, catches silent changes)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l keep-extra -d 'Keep destination files the source no longer has (by default they are deleted, only in directories the source has, so the copy mirrors the source\'s store)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l fsync -d 'fsync every file before it is renamed into place (durable against power loss, slower; like rsync, the default leaves write-back to the kernel)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l no-space-check -d 'Skip the free disk space check'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand duplicate" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -f -a "list" -d 'Table of keys: key, type, enabled, allow from, role, live streams using it'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -f -a "add" -d 'Add a new key (a random UUID) and print it'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -f -a "enable" -d 'Enable a key (`enabled = yes`) and reload the daemon'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -f -a "disable" -d 'Disable a key (`enabled = no`) and reload the daemon; its live streams are dropped'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and not __fish_seen_subcommand_from list add enable disable help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from list" -l url -d 'API of this parent for the live stream count (default: from [web] bind to)' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from list" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -l role -d 'Who uses the key (recorded as a comment above its section)' -r -f -a "children\t'Keys children use to stream to this parent'
parents\t'Keys sibling parents use to stream to this parent'"
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -l allow-from -d 'Netdata simple pattern of client IPs allowed to use the key' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -l disabled -d 'Add the key disabled'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -l no-reload -d 'Do not signal the running daemon'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from enable" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from enable" -l no-reload -d 'Do not signal the running daemon'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from enable" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from enable" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from disable" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from disable" -l no-reload -d 'Do not signal the running daemon'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from disable" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from disable" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "list" -d 'Table of keys: key, type, enabled, allow from, role, live streams using it'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a new key (a random UUID) and print it'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Enable a key (`enabled = yes`) and reload the daemon'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Disable a key (`enabled = no`) and reload the daemon; its live streams are dropped'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -f -a "on" -d 'Reject children on the parent\'s port; accept the sibling parents'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -f -a "off" -d 'Remove exactly what `on` added'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -f -a "show" -d 'Tell whether a quarantine is on, and which'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and not __fish_seen_subcommand_from on off show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l parents -d 'Addresses of the sibling parents to keep accepting (comma separated)' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l port -d 'The parent\'s stream/API port' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l backend -d 'Firewall to program' -r -f -a "iptables\t''
nftables\t''"
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l timeout -d 'Give up waiting after this long (`90s`, `10m`, `2h`); the quarantine then stays on' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l url -d 'This parent\'s API for --until-synced (default: from [web] bind to)' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l interval -d 'Seconds between polls of --until-synced' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l print -d 'Print the rules instead of applying them (no root needed)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l keys -d 'Instead of firewalling, disable the keys marked `role: children` in stream.conf'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l until-synced -d 'Stay on until this parent reports replication done for all its hosts, then lift'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from on" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from off" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from off" -l print -d 'Print the commands instead of running them'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from off" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from off" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from off" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from show" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "on" -d 'Reject children on the parent\'s port; accept the sibling parents'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "off" -d 'Remove exactly what `on` added'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "show" -d 'Tell whether a quarantine is on, and which'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -l parents -d 'Parents to ask (default: this parent and the destinations in its stream.conf)' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -l timeout -d 'Limit for --wait-synced and --watch (`90s`, `10m`, `2h`)' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -l interval -d 'Seconds between polls (--watch, --wait-synced)' -r
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -s c -l config -d 'The parent\'s netdata.conf (stream.conf is read beside it or from [directories] config)' -r -F
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -l watch -d 'Redraw the table every --interval seconds until interrupted (or --timeout)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -l wait-synced -d 'Wait until the cluster is in sync: exit 0 then, or 8 at --timeout'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -l json -d 'Print machine-readable JSON on stdout instead of tables'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -s h -l help -d 'Print help'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand status" -s V -l version -d 'Print version'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and not __fish_seen_subcommand_from duplicate keys quarantine status help" -f -a "duplicate" -d 'Clone a parent\'s cache directory (local or from a running parent) with a retention preflight'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and not __fish_seen_subcommand_from duplicate keys quarantine status help" -f -a "keys" -d 'List, add, enable and disable the stream API keys in stream.conf'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and not __fish_seen_subcommand_from duplicate keys quarantine status help" -f -a "quarantine" -d 'Block children (but not sibling parents) while a restored parent catches up'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and not __fish_seen_subcommand_from duplicate keys quarantine status help" -f -a "status" -d 'Show every node against every parent: live, replicating, offline, missing'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and not __fish_seen_subcommand_from duplicate keys quarantine status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "list" -d 'Table of keys: key, type, enabled, allow from, role, live streams using it'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "add" -d 'Add a new key (a random UUID) and print it'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "enable" -d 'Enable a key (`enabled = yes`) and reload the daemon'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "disable" -d 'Disable a key (`enabled = no`) and reload the daemon; its live streams are dropped'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "on" -d 'Reject children on the parent\'s port; accept the sibling parents'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "off" -d 'Remove exactly what `on` added'
complete -c netdatactl -n "__fish_netdatactl_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "show" -d 'Tell whether a quarantine is on, and which'
