%% The patch agent of one node: checks and hot-loads patch modules with the BEAM's own code API
%% (beam_lib, code:module_md5, code:is_loaded, code:soft_purge, code:load_binary) and never kills
%% a process: old code still in use is reported as not_updated instead of being purged.
%%
%% An item is {ArchivePath, Binary}; the expected layout is <<"App/ebin/Module.beam">> where
%% ROOT/lib/App/ebin exists on the node. Per-item status (the runbook's codes):
%%   error=1 load failed, not_beam=2, wrong_path=3, not_updated=4, not_changed=5, ok=6, not_loaded=7.
%% The master node fans requests out to the domain with erpc (see domain/1).
-module(patch_agent).
-export([info/0, state/0, bump/0, check/1, apply/2, md5s/1, files/0, capture/1, restore/1,
         system_libraries/1, domain/1, version/0]).

-compile({no_auto_import, [apply/2]}).

-define(CODES, #{error => 1, not_beam => 2, wrong_path => 3, not_updated => 4,
                 not_changed => 5, ok => 6, not_loaded => 7}).
-define(LONG_LIVED, [core_counter, billing_srv, gw_legacy]).
-define(DOMAIN_TIMEOUT, 30000).

%% ---- node facts -----------------------------------------------------------------------------

cfg(Key) -> maps:get(Key, persistent_term:get(patch_agent)).
root() -> cfg(root).

version() ->
    case file:read_file(filename:join(root(), "VERSION")) of
        {ok, V} -> string:trim(V);
        {error, _} -> <<"unknown">>
    end.

info() ->
    #{node => node(), version => version(), role => cfg(role),
      apps => [A || {A, _, _} <- application:which_applications(), lists:member(A, cfg(apps))],
      domain => cfg(domain), applied => applied(),
      reboot_required => [atom_to_binary(M) || M <- reboot_required()],
      root => unicode:characters_to_binary(root()),
      agent => iolist_to_binary(io_lib:format("127.0.0.1:~b", [cfg(agent_port)]))}.

state() ->
    maps:from_list([{Name, #{pid => list_to_binary(pid_to_list(whereis(Name))), value => Name:value()}}
                    || Name <- ?LONG_LIVED, whereis(Name) =/= undefined]).

bump() ->
    maps:from_list([{Name, Name:bump()} || Name <- ?LONG_LIVED, whereis(Name) =/= undefined]).

md5s(Names) ->
    maps:from_list([{N, case loaded_md5(binary_to_atom(N)) of
                            undefined -> not_loaded;
                            Md5 -> hex(Md5)
                        end} || N <- Names]).

%% Every file under ROOT/lib with the md5 of its bytes: proves from the outside (any backend) that
%% nothing was written.
files() ->
    Lib = filename:join(root(), "lib"),
    maps:from_list([{unicode:characters_to_binary(F), hex(erlang:md5(element(2, {ok, _} = file:read_file(filename:join(Lib, F)))))}
                    || F <- filelib:wildcard("**", Lib), filelib:is_regular(filename:join(Lib, F))]).

%% ---- check / apply --------------------------------------------------------------------------

check(Items) -> node_result([item(check, P, B) || {P, B} <- Items]).

apply(Name, Items) ->
    Results = [item({apply, Name}, P, B) || {P, B} <- Items],
    log_applied(Name, Results),
    node_result(Results).

node_result(Results) -> #{node => node(), version => version(), modules => Results}.

item(Mode, Path, Bin) ->
    try
        {App, Base} = layout(Path),
        M = beam_module(Bin),
        atom_to_binary(M) =:= Base orelse throw({wrong_path, module_name_mismatch, M}),
        is_system_library(M) andalso throw({wrong_path, system_library, M}),
        Dest = dest(App, Base),
        at_home(M, Dest) orelse throw({wrong_path, {other_app, which(M)}, M}),
        {Status, Reason} = act(Mode, M, Dest, Bin, code:module_md5(Bin)),
        result(Path, M, Status, Reason, hex(code:module_md5(Bin)))
    catch
        throw:{St, Why} -> result(Path, undefined, St, Why, undefined);
        throw:{St, Why, Mod} -> result(Path, Mod, St, Why, undefined)
    end.

act(Mode, M, Dest, Bin, NewMd5) ->
    case loaded_md5(M) of
        undefined when Mode =:= check -> {not_loaded, none};
        undefined -> {not_loaded, write_if_changed(Dest, Bin, NewMd5)};
        NewMd5 -> {not_changed, none};
        _Other when Mode =:= check ->
            case old_code_in_use(M) of
                true -> {not_updated, old_code_in_use};
                false -> {ok, none}
            end;
        _Other -> load(M, Dest, Bin)
    end.

load(M, Dest, Bin) ->
    case code:soft_purge(M) of
        false ->
            %% The file is written so that the manual reboot the runbook asks for picks it up.
            ok = write_atomic(Dest, Bin),
            mark_reboot(M),
            {not_updated, old_code_in_use};
        true ->
            try code:load_binary(M, unicode:characters_to_list(Dest), Bin) of
                {module, M} -> ok = write_atomic(Dest, Bin), {ok, none};
                {error, Reason} -> {error, Reason}
            catch Class:Crash -> {error, {Class, Crash}}
            end
    end.

write_if_changed(Dest, Bin, NewMd5) ->
    case file:read_file(Dest) of
        {ok, Old} -> case code:module_md5(Old) of
                         NewMd5 -> file_unchanged;
                         _ -> ok = write_atomic(Dest, Bin), file_written
                     end;
        {error, _} -> ok = write_atomic(Dest, Bin), file_written
    end.

result(Path, M, Status, Reason, NewMd5) ->
    Loaded = case M of undefined -> undefined; _ -> maybe_hex(loaded_md5(M)) end,
    #{path => Path, module => maybe_bin(M), status => Status, code => maps:get(Status, ?CODES),
      reason => reason(Reason), md5_new => NewMd5, md5_loaded => Loaded}.

layout(Path) ->
    case binary:split(Path, <<"/">>, [global]) of
        [App, <<"ebin">>, File] ->
            Base = filename:basename(File, <<".beam">>),
            (Base =/= File andalso name_ok(App) andalso name_ok(Base))
                orelse throw({wrong_path, bad_layout}),
            filelib:is_dir(filename:join([root(), "lib", App, "ebin"]))
                orelse throw({wrong_path, unknown_app}),
            {App, Base};
        _ -> throw({wrong_path, bad_layout})
    end.

name_ok(<<C, Rest/binary>>) when C >= $a, C =< $z ->
    lists:all(fun(X) -> (X >= $a andalso X =< $z) orelse (X >= $A andalso X =< $Z)
                            orelse (X >= $0 andalso X =< $9) orelse X =:= $_ end, binary_to_list(Rest));
name_ok(_) -> false.

dest(App, Base) -> filename:join([root(), "lib", App, "ebin", <<Base/binary, ".beam">>]).

beam_module(Bin) ->
    case {code:module_md5(Bin), catch beam_lib:info(Bin)} of
        {undefined, _} -> throw({not_beam, not_a_beam_file});
        {_, Info} when is_list(Info) -> proplists:get_value(module, Info);
        {_, Other} -> throw({not_beam, Other})
    end.

%% kernel, stdlib, compiler (sticky) and every other OTP library or preloaded module.
is_system_library(M) ->
    code:is_sticky(M) orelse
        case code:which(M) of
            preloaded -> true;
            File when is_list(File) -> lists:prefix(code:lib_dir(), File);
            _ -> false
        end.

system_libraries(Names) ->
    [N || N <- Names, is_system_library(binary_to_atom(N))].

at_home(M, Dest) ->
    case code:which(M) of
        non_existing -> true;
        File when is_list(File) -> filename:absname(File) =:= filename:absname(unicode:characters_to_list(Dest));
        _ -> false
    end.

which(M) -> case code:which(M) of F when is_list(F) -> list_to_binary(F); A -> A end.

loaded_md5(M) ->
    case erlang:module_loaded(M) of
        true -> erlang:get_module_info(M, md5);
        false -> undefined
    end.

old_code_in_use(M) ->
    erlang:check_old_code(M) andalso
        lists:any(fun(P) -> (catch erlang:check_process_code(P, M)) =:= true end, processes()).

%% ---- anti-patch: capture and restore the object code at the patch's paths -------------------

capture(Paths) -> [capture_one(P) || P <- Paths].

capture_one(Path) ->
    try
        {App, Base} = layout(Path),
        M = binary_to_atom(Base),
        Dest = dest(App, Base),
        Disk = case file:read_file(Dest) of {ok, B} -> B; {error, _} -> none end,
        DiskMd5 = case Disk of none -> undefined; _ -> code:module_md5(Disk) end,
        Loaded = loaded_md5(M),
        LoadedFrom = case code:is_loaded(M) of {file, F} when is_list(F) -> F; _ -> undefined end,
        Consistent = Loaded =:= undefined orelse
            (Loaded =:= DiskMd5 andalso filename:absname(LoadedFrom) =:= filename:absname(unicode:characters_to_list(Dest))),
        #{path => Path, module => Base, loaded => Loaded =/= undefined, md5 => maybe_hex(Loaded),
          disk => Disk, disk_md5 => maybe_hex(DiskMd5), consistent => Consistent}
    catch throw:{_, Why} -> #{path => Path, error => reason(Why)}
    end.

restore(Images) -> node_result([restore_one(I) || I <- Images]).

restore_one({Path, WasLoaded, Md5, Disk}) ->
    try
        {App, Base} = layout(Path),
        M = binary_to_atom(Base),
        Dest = dest(App, Base),
        case Disk of
            none -> _ = file:delete(Dest);
            _ -> ok = write_atomic(Dest, Disk)
        end,
        Now = maybe_hex(loaded_md5(M)),
        {Status, Why} =
            if
                WasLoaded, Now =:= Md5 -> {not_changed, none};
                WasLoaded, Disk =:= none -> {error, no_object_code};
                WasLoaded -> load(M, Dest, Disk);
                Now =:= undefined -> {not_loaded, none};
                true -> unload(M)
            end,
        lists:member(Status, [ok, not_changed]) andalso unmark_reboot(M),
        result(Path, M, Status, Why, Md5)
    catch throw:{St, Reason} -> result(Path, undefined, St, Reason, undefined)
    end.

unload(M) ->
    case code:soft_purge(M) andalso code:delete(M) andalso code:soft_purge(M) of
        true -> {not_loaded, unloaded};
        false -> {not_updated, old_code_in_use}
    end.

%% ---- domain fan-out (master) ----------------------------------------------------------------

domain({domain, _}) -> erlang:error(nested_domain_request);
domain(Request) ->
    Nodes = [node() | cfg(domain)],
    Replies = erpc:multicall(Nodes, patch_agent_tcp, dispatch, [Request], ?DOMAIN_TIMEOUT),
    [case R of
         {ok, Result} -> #{node => N, reachable => true, result => Result};
         {Class, Reason} -> #{node => N, reachable => Reason =/= {erpc, noconnection},
                              error => iolist_to_binary(io_lib:format("~p:~0P", [Class, Reason, 12]))}
     end || {N, R} <- lists:zip(Nodes, Replies)].

%% ---- bookkeeping ----------------------------------------------------------------------------

mark_reboot(M) -> persistent_term:put({?MODULE, reboot}, lists:usort([M | reboot_required()])).
unmark_reboot(M) -> persistent_term:put({?MODULE, reboot}, reboot_required() -- [M]).
reboot_required() -> persistent_term:get({?MODULE, reboot}, []).

applied_log() -> filename:join([root(), "patches", "applied.log"]).

log_applied(Name, Results) ->
    Lines = [io_lib:format("~s\t~s\t~s\t~s~n", [Name, Mod, St, Md5])
             || #{module := Mod, status := St, md5_new := Md5} <- Results,
                lists:member(St, [ok, not_updated, not_loaded]), Md5 =/= undefined],
    Lines =:= [] orelse begin
                            ok = filelib:ensure_dir(applied_log()),
                            ok = file:write_file(applied_log(), Lines, [append])
                        end.

applied() ->
    case file:read_file(applied_log()) of
        {ok, Text} ->
            [begin [P, M, S, D] = binary:split(L, <<"\t">>, [global]),
                   #{patch => P, module => M, status => S, md5 => D} end
             || L <- binary:split(Text, <<"\n">>, [global, trim_all])];
        {error, _} -> []
    end.

write_atomic(Dest, Bin) ->
    Tmp = unicode:characters_to_list(Dest) ++ ".tmp",
    case file:write_file(Tmp, Bin) of
        ok -> file:rename(Tmp, Dest);
        Error -> Error
    end.

hex(Bin) -> string:lowercase(binary:encode_hex(Bin)).
maybe_hex(undefined) -> undefined;
maybe_hex(Bin) -> hex(Bin).
maybe_bin(undefined) -> undefined;
maybe_bin(A) when is_atom(A) -> atom_to_binary(A).

reason(none) -> undefined;
reason(R) when is_atom(R) -> atom_to_binary(R);
reason(R) -> iolist_to_binary(io_lib:format("~0P", [R, 12])).
