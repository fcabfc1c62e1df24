#!/usr/bin/env escript
%% Build the sample release with systools, one directory per version (see the make_tar pitfall in
%% the OTP reference: a relup lying next to another version's .rel ends up in the wrong tarball).
%%
%%   escript build_release.escript BUILD_DIR NAME SPEC...
%%   SPEC = Vsn | Vsn=BaseVsn (make_relup from BaseVsn) | Vsn=BaseVsn+keep (BUILD_DIR/rel/Vsn/relup is given)
%%
%% Expects BUILD_DIR/lib/NAME-Vsn/ebin (compiled, with .app and .appup). Writes
%% BUILD_DIR/rel/Vsn/{NAME-Vsn.rel,.boot,.script,relup,sys.config,NAME-Vsn.tar.gz}.
%% Prints "ok" or "error <Vsn> <step> <reason>" and exits 0/1.
-mode(compile).

%% Every release logs as a production release does: OTP's logger at level info (progress reports, the
%% SIGTERM notice, application exits) into ROOT/log/erlang.log (the node's cwd is ROOT), an RFC 3339 time
%% on each event's first line, a multi-line report indented under it. Written as logged (no
%% delayed_write, which logger_std_h adds unless told the modes): what a node logged is in the file.
-define(SYS_CONFIG,
        "[{kernel, [{logger_level, info},\n"
        "           {logger, [{handler, default, logger_std_h,\n"
        "                      #{config => #{file => \"log/erlang.log\", modes => [append, raw]},\n"
        "                        formatter => {logger_formatter,\n"
        "                                      #{single_line => false,\n"
        "                                        template => [time, \" \", level, \": \", msg, \"\\n\"]}}}}]}]}].\n").

main([Dir, Name | Specs]) ->
    Path = [filename:join([Dir, "lib", "*", "ebin"])],
    Erts = erlang:system_info(version),
    [application:load(A) || A <- [kernel, stdlib, sasl]],
    Vsn = fun(A) -> {ok, V} = application:get_key(A, vsn), V end,
    Core = [{kernel, Vsn(kernel)}, {stdlib, Vsn(stdlib)}, {sasl, Vsn(sasl)}],
    try
        lists:foreach(fun(S) -> build(Dir, Name, Path, Erts, Core, string:split(S, "=")) end, Specs),
        io:format("ok~n")
    catch throw:{failed, V, Step, Reason} ->
        io:format("error ~s ~s ~0p~n", [V, Step, Reason]),
        halt(1)
    end.

build(Dir, Name, Path, Erts, Core, [V | Base]) ->
    RelDir = filename:join([Dir, "rel", V]),
    ok = filelib:ensure_dir(filename:join(RelDir, "x")),
    RelName = Name ++ "-" ++ V,
    Rel = {release, {Name, V}, {erts, Erts}, Core ++ [{list_to_atom(Name), V}]},
    ok = file:write_file(filename:join(RelDir, RelName ++ ".rel"), io_lib:format("~p.~n", [Rel])),
    ok = file:write_file(filename:join(RelDir, "sys.config"), ?SYS_CONFIG),
    ok = file:set_cwd(RelDir),
    check(V, make_script, systools:make_script(RelName, [{path, Path}, silent])),
    case Base of
        [] -> ok;
        [B] ->
            case string:split(B, "+") of
                [_, "keep"] -> ok;
                [BV] ->
                    BaseRel = filename:join(["..", BV, Name ++ "-" ++ BV]),
                    check(V, make_relup, systools:make_relup(RelName, [BaseRel], [BaseRel],
                                                             [{path, Path}, silent]))
            end
    end,
    check(V, make_tar, systools:make_tar(RelName, [{path, Path}, silent])).

check(_V, _Step, ok) -> ok;
check(_V, _Step, {ok, _, _, _}) -> ok;
check(_V, _Step, {ok, _, _}) -> ok;
check(V, Step, Other) -> throw({failed, V, atom_to_list(Step), Other}).
