// Reference service for tests/bench/run: the hand-rolled write-through
// service wtc replaces.  POST /write-through takes one JSON record, writes
// it to Redis (one HSET users:<id>) and then, unless REF_NO_INSERT=1, INSERTs
// it into MySQL, one row per request, through a bounded pool.
//
// Built from Debian's packages only:
//   GO111MODULE=off GOPATH=/usr/share/gocode go build -o gin-ref .
//
// Environment:
//   REF_LISTEN     127.0.0.1:PORT (required)
//   REF_REDIS      unix socket path of Redis (required)
//   REF_MYSQL_DSN  go-sql-driver DSN, e.g. wtc:pw@unix(/path/sock)/wtc
//   REF_NO_INSERT  1: skip the MySQL INSERT (Redis only)
//   REF_POOL       max open MySQL connections and Redis pool size (default 50)
package main

import (
	"database/sql"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/go-sql-driver/mysql"
	"github.com/gomodule/redigo/redis"
)

type user struct {
	Name       string `json:"name" binding:"required"`
	Age        *int   `json:"age"`
	Occupation string `json:"occupation"`
}

func main() {
	listen := os.Getenv("REF_LISTEN")
	sock := os.Getenv("REF_REDIS")
	dsn := os.Getenv("REF_MYSQL_DSN")
	insert := os.Getenv("REF_NO_INSERT") != "1"
	poolSize := 50
	if v, err := strconv.Atoi(os.Getenv("REF_POOL")); err == nil && v > 0 {
		poolSize = v
	}
	if listen == "" || sock == "" {
		log.Fatal("REF_LISTEN and REF_REDIS are required")
	}

	pool := &redis.Pool{
		MaxIdle:     poolSize,
		MaxActive:   poolSize,
		Wait:        true,
		IdleTimeout: 240 * time.Second,
		Dial:        func() (redis.Conn, error) { return redis.Dial("unix", sock) },
	}
	defer pool.Close()

	var db *sql.DB
	var stmt *sql.Stmt
	var nextID uint64
	if insert {
		var err error
		db, err = sql.Open("mysql", dsn)
		if err != nil {
			log.Fatal(err)
		}
		db.SetMaxOpenConns(poolSize)
		db.SetMaxIdleConns(poolSize)
		if err = db.Ping(); err != nil {
			log.Fatal(err)
		}
		var max sql.NullInt64
		if err = db.QueryRow("SELECT MAX(id) FROM users").Scan(&max); err != nil {
			log.Fatal(err)
		}
		nextID = uint64(max.Int64)
		stmt, err = db.Prepare("INSERT INTO users (id, name, age, occupation) VALUES (?, ?, ?, ?)")
		if err != nil {
			log.Fatal(err)
		}
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.POST("/write-through", func(c *gin.Context) {
		var u user
		if err := c.ShouldBindJSON(&u); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		id := atomic.AddUint64(&nextID, 1)
		key := "users:" + strconv.FormatUint(id, 10)
		args := redis.Args{key, "id", id, "name", u.Name, "occupation", u.Occupation}
		if u.Age != nil {
			args = append(args, "age", *u.Age)
		}
		conn := pool.Get()
		_, err := conn.Do("HSET", args...)
		conn.Close()
		if err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": "redis: " + err.Error()})
			return
		}
		if insert {
			if _, err := stmt.Exec(id, u.Name, u.Age, u.Occupation); err != nil {
				c.JSON(http.StatusInternalServerError, gin.H{"error": "mysql: " + err.Error()})
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"message": "Data write successful!", "id": id})
	})
	log.Fatal(r.Run(listen))
}
